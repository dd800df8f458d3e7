//! Network partitions on loopback with traffic control: the packets of a cut are steered into
//! an htb class whose queue holds nothing (a pfifo of limit 0 on `lo`, u32 filters), so they
//! are silently dropped, as on a real network that lost a link: no reset, no error.
//!
//! Needs root and a kernel with sch_htb, sch_pfifo and cls_u32. Where `tc` cannot set the class
//! up, `Cut` returns why, and the caller skips its test (`skipped: ...` on stderr). One qdisc
//! tree on `lo` at a time: the tests of a binary take turns (`tc_turn`), and cargo runs test
//! binaries one after the other.

use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// One qdisc tree on `lo` at a time: the tests of a binary take turns.
static TC: Mutex<()> = Mutex::new(());

pub fn tc_turn() -> MutexGuard<'static, ()> {
    TC.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The partition, undone when dropped (also when the test fails).
pub struct Cut;

impl Cut {
    /// Cuts `port` off: every packet to or from it is dropped. Or returns why it cannot.
    pub fn port(port: u16) -> Result<Cut, String> {
        Cut::packets(&[
            format!("match ip dport {port} 0xffff"),
            format!("match ip sport {port} 0xffff"),
        ])
    }

    /// Cuts every link between `ip` and each of `others`, both ways.
    pub fn between(ip: [u8; 4], others: &[[u8; 4]]) -> Result<Cut, String> {
        Cut::sides(&[ip], others)
    }

    /// Cuts every link between an address of `side` and one of `rest`, both ways; the links
    /// within each side stay up.
    pub fn sides(side: &[[u8; 4]], rest: &[[u8; 4]]) -> Result<Cut, String> {
        let mut links = Vec::new();
        for &a in side {
            for &b in rest {
                links.extend([(a, b), (b, a)]);
            }
        }
        Cut::links(&links)
    }

    /// Drops the packets sent from an address of `from` to one of `to`, one way only: the
    /// packets back still flow. (Over TCP that is messy, as on a real network with a broken
    /// route: a connection's data still arrives while its acknowledgements are lost, until the
    /// sender gives up; new connections cannot be set up.)
    pub fn one_way(from: &[[u8; 4]], to: &[[u8; 4]]) -> Result<Cut, String> {
        let links: Vec<_> = from
            .iter()
            .flat_map(|&a| to.iter().map(move |&b| (a, b)))
            .collect();
        Cut::links(&links)
    }

    /// Drops the packets of each (source, destination) pair of addresses.
    fn links(links: &[([u8; 4], [u8; 4])]) -> Result<Cut, String> {
        let dotted = |[a, b, c, d]: [u8; 4]| format!("{a}.{b}.{c}.{d}/32");
        let matches: Vec<String> = links
            .iter()
            .map(|&(src, dst)| format!("match ip src {} match ip dst {}", dotted(src), dotted(dst)))
            .collect();
        Cut::packets(&matches)
    }

    /// Drops every loopback packet one of the u32 `matches` selects.
    pub fn packets(matches: &[String]) -> Result<Cut, String> {
        if !tc(&[
            "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10",
        ])? {
            return Err("tc cannot add an htb qdisc on lo (not root, or no sch_htb)".into());
        }
        let cut = Cut;
        let mut steps: Vec<String> = vec![
            "class add dev lo parent 1: classid 1:10 htb rate 10gbit".into(),
            "class add dev lo parent 1: classid 1:20 htb rate 8bit ceil 8bit".into(),
            // A queue of no packets: each is dropped as it arrives. (Packets left queued in
            // the host are not lost to TCP: it sends them again the moment they are freed.)
            "qdisc add dev lo parent 1:20 handle 20: pfifo limit 0".into(),
        ];
        for m in matches {
            steps.push(format!(
                "filter add dev lo parent 1: protocol ip prio 1 u32 {m} flowid 1:20"
            ));
        }
        for step in &steps {
            let args: Vec<&str> = step.split(' ').collect();
            if !tc(&args)? {
                return Err(format!("tc {step} failed"));
            }
        }
        Ok(cut)
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = tc(&["qdisc", "del", "dev", "lo", "root"]);
    }
}

/// Runs `tc`; Ok(false) when it ran and failed, Err when it is not there.
fn tc(args: &[&str]) -> Result<bool, String> {
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|e| format!("tc: {e}"))?;
    if !out.status.success() {
        eprintln!(
            "tc {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.status.success())
}
