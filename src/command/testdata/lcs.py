#!/usr/bin/env python3
"""Write lcs.txt: LCS's options and errors by hand, then a seeded sample of random string pairs
over small alphabets (so many common subsequences tie and the choice among them shows), each
asked for the LCS, LEN, IDX, IDX MINMATCHLEN 2 WITHMATCHLEN. Record the replies with record.py:

    python3 src/command/testdata/lcs.py 300 1 > src/command/testdata/lcs.txt
    python3 src/command/testdata/record.py /tmp/rec.sock src/command/testdata/lcs.txt
"""

import random
import sys

HAND = """\
# LCS (t_string.c lcsCommand). Replies recorded from redis-server 7.0.
MSET a ohmytext b mynewtext => ?
LCS a b => ?
LCS a b LEN => ?
LCS a b IDX => ?
LCS a b IDX MINMATCHLEN 4 => ?
LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN => ?
LCS a b IDX WITHMATCHLEN => ?
LCS a b idx minmatchlen -5 => ?
LCS a b IDX MINMATCHLEN 0 => ?
LCS a b IDX IDX => ?
LCS a b LEN LEN => ?
LCS a b WITHMATCHLEN => ?
LCS a b MINMATCHLEN 3 => ?
LCS a b LEN MINMATCHLEN 3 => ?
LCS a b IDX LEN => ?
LCS a b LEN IDX => ?
LCS a b FOO => ?
LCS a b MINMATCHLEN => ?
LCS a b MINMATCHLEN abc => ?
LCS a b MINMATCHLEN 1.5 => ?
LCS a b IDX MINMATCHLEN 9223372036854775808 => ?
LCS a b IDX MINMATCHLEN 9223372036854775807 => ?
LCS a nokey => ?
LCS nokey a LEN => ?
LCS nokey nokey2 IDX => ?
LCS nokey nokey2 => ?
LCS a a => ?
LCS a a IDX WITHMATCHLEN => ?
LCS a => ?
LCS => ?
lcs a b len => ?
SET e "" => ?
LCS e a IDX => ?
MSET x "\\x00\\x01\\xff\\x00" y "\\xff\\x00\\x00" => ?
LCS x y => ?
LCS x y IDX WITHMATCHLEN => ?
MSET p abcdefgh q xaxbxcxdxexfxgxhx => ?
LCS p q IDX => ?
LCS p q IDX MINMATCHLEN 2 => ?
MSET p aaaa q aa => ?
LCS p q IDX WITHMATCHLEN => ?
# (alen+1)*(blen+1)*4 bytes of table may not exceed proto-max-bulk-len (512 MB).
SETRANGE big1 11584 x => ?
SETRANGE big2 11584 x => ?
LCS big1 big2 LEN => ?
SETRANGE big2 11585 x => ?
LCS big1 big2 LEN => ?
LCS big1 big2 FOO => ?
SET t v PX 100 => ?
@advance 250
LCS t a => ?
# Random pairs.
"""


def main():
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    out = [HAND]
    for _ in range(n):
        alphabet = rng.choice(["ab", "abc", "abcd", "acgt", "xyz01"])
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        out.append('MSET a "%s" b "%s" => ?\n' % (a, b))
        for opts in ["", " LEN", " IDX", " IDX MINMATCHLEN 2 WITHMATCHLEN"]:
            out.append("LCS a b%s => ?\n" % opts)
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
