//! Log lines in redis-server's format: `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`,
//! where role is `M` for a leader, `S` for a follower, `C` otherwise (as Redis uses M/S/C), and
//! level is `.` debug, `-` verbose, `*` notice, `#` warning. Written to stderr, or appended to
//! `logfile` when one is configured.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Notice as u8);
static ROLE: AtomicU8 = AtomicU8::new(b'C');
static FILE: OnceLock<Mutex<File>> = OnceLock::new();

/// Sets the minimum level logged, and the file to append to (empty: stderr).
pub fn init(level: LogLevel, logfile: &str) -> std::io::Result<()> {
    set_level(level);
    if !logfile.is_empty() {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)?;
        let _ = FILE.set(Mutex::new(f));
    }
    Ok(())
}

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The role letter shown in log lines.
pub fn set_role(leader: bool, follower: bool) {
    let c = if leader {
        b'M'
    } else if follower {
        b'S'
    } else {
        b'C'
    };
    ROLE.store(c, Ordering::Relaxed);
}

pub fn enabled(level: LogLevel) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: LogLevel, msg: std::fmt::Arguments) {
    if !enabled(level) {
        return;
    }
    let mark = match level {
        LogLevel::Debug => '.',
        LogLevel::Verbose => '-',
        LogLevel::Notice => '*',
        LogLevel::Warning => '#',
    };
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        mark,
        msg
    );
    match FILE.get() {
        Some(f) => {
            let _ = f.lock().write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// `22 Nov 2026 04:34:16.123` in UTC.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[macro_export]
macro_rules! log_warning {
    ($($arg:tt)*) => { $crate::logging::write($crate::config::LogLevel::Warning, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! log_notice {
    ($($arg:tt)*) => { $crate::logging::write($crate::config::LogLevel::Notice, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! log_verbose {
    ($($arg:tt)*) => { $crate::logging::write($crate::config::LogLevel::Verbose, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! log_debug {
    ($($arg:tt)*) => { $crate::logging::write($crate::config::LogLevel::Debug, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
