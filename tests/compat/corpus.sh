# corpus.sh - the cases of the compatibility corpus, sourced by run.sh.
#
# A case is declared with compat_case NAME HALF 'PROGRAM' CMD... -- PKG...
# and defined by functions:
#   p_NAME  (optional) prepares the input, once, in $IN (its cwd)
#   c_NAME  runs the case in an empty cwd; its one measured command goes
#           through `run` (natively: under /usr/bin/time; else under
#           pagemu run), everything else around it runs natively
#   f_NAME  (optional) filters stdout and stderr (stdin to stdout): each
#           filter removes only what differs from run to run, and says why
# Both runs of a case see the same cwd path, environment and input.
# Everything is deterministic: generated input (MINSTD), fixed dates.
# $TOP is the source tree, $PROGS where tests/progs are built.

# gen_lines N SEED: N lines "NUMBER WORD WORD NUMBER" from the MINSTD
# generator (products < 2^47, exact in awk's doubles).
gen_lines() {
	mawk -v n="$1" -v x="$2" 'BEGIN {
		split("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu", w, " ")
		for (i = 0; i < n; i++) {
			x = (x * 48271) % 2147483647; a = x
			x = (x * 48271) % 2147483647; b = x
			printf "%d %s %s %d\n", a % 100000, w[a % 26 + 1], w[b % 26 + 1], b % 1000
		}
	}'
}

# build_prog NAME [CFLAGS...]: tests/progs/NAME.c into $PROGS/NAME.
build_prog() {
	p=$1
	shift
	cc -O1 -Wall -o "$PROGS/$p" "$TOP/tests/progs/$p.c" "$@"
}

# A timing line of Python's unittest: "Ran 42 tests in 0.123s".
unittest_time='s/^\(Ran [0-9]* tests\{0,1\} in \)[0-9.]*s$/\1Xs/'

# ---- interpreters ---------------------------------------------------------

compat_case python_threads fast 'python3: 4 threads, objects on malloc' /usr/bin/python3 -- python3
p_python_threads() {
	cat > t.py <<'EOF'
import hashlib, sys, threading
res = {}
def work(k):
    d = {}
    for i in range(6000):
        d["%d-%d" % (k, i)] = str(i * k).encode() * (1 + i % 5)
    items = sorted(d.items(), key=lambda kv: (kv[1], kv[0]))
    h = hashlib.sha256()
    for key, v in items:
        h.update(key.encode())
        h.update(v)
    res[k] = (len(items), h.hexdigest())
ts = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for k in sorted(res):
    print(k, *res[k])
EOF
}
# PYTHONMALLOC=malloc: every object on malloc, so the interpreter's whole
# heap is emulated (by default small objects live in arenas it mmaps).
c_python_threads() { run env PYTHONMALLOC=malloc /usr/bin/python3 "$IN/t.py"; }

compat_case python_mp full 'python3: multiprocessing, fork' /usr/bin/python3 -- python3
p_python_mp() {
	cat > mp.py <<'EOF'
import hashlib, multiprocessing as mp
def work(k):
    data = [str(i * k).encode() for i in range(10000)]
    return k, len(data), hashlib.md5(b"".join(sorted(data))).hexdigest()
if __name__ == "__main__":
    big = [bytes(1000) for _ in range(2000)]       # the children's copy
    with mp.get_context("fork").Pool(2) as pool:
        for r in pool.map(work, range(1, 9)):
            print(*r)
    print(len(big))
EOF
}
c_python_mp() { run env PYTHONMALLOC=malloc /usr/bin/python3 "$IN/mp.py"; }

# The json package's own test suite, complete (Lib/test/test_json: the C
# and the pure-Python implementation, and json.tool run as a child).
compat_case python_json_suite full 'python3 test suite: test.test_json' /usr/lib/python3.11/test/test_json -- python3 libpython3.11-testsuite
c_python_json_suite() { run /usr/bin/python3 -m unittest -v test.test_json; }
# unittest prints how long the tests took.
f_python_json_suite() { sed "$unittest_time"; }

# Two small suites, each testing the C and the pure-Python implementation.
compat_case python_heapq_bisect fast 'python3 test suites: test_heapq, test_bisect' /usr/lib/python3.11/test/test_heapq.py -- python3 libpython3.11-testsuite
c_python_heapq_bisect() { run /usr/bin/python3 -m unittest -v test.test_heapq test.test_bisect; }
f_python_heapq_bisect() { sed "$unittest_time"; }

compat_case python_suites full 'python3 test suites: 12 modules' /usr/lib/python3.11/test/test_heapq.py -- python3 libpython3.11-testsuite
c_python_suites() {
	run /usr/bin/python3 -m unittest test.test_heapq test.test_bisect test.test_collections \
	  test.test_itertools test.test_functools test.test_struct test.test_statistics \
	  test.test_textwrap test.test_difflib test.test_csv test.test_string test.test_base64
}
f_python_suites() { sed "$unittest_time"; }

compat_case perl fast 'perl: hashes, sort, regexes, MD5' perl -- perl
p_perl() {
	gen_lines 8000 7 > in.txt
	cat > t.pl <<'EOF'
use strict; use warnings; use Digest::MD5 qw(md5_hex);
my (%h, @rows);
open my $f, '<', $ARGV[0] or die;
while (<$f>) { chomp; my @c = split / /; $h{$c[1]}{$c[2]} += $c[3]; push @rows, [@c]; }
my @s = sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] or $a->[2] cmp $b->[2] or $a->[3] <=> $b->[3] } @rows;
print scalar(@s), " rows, md5 ", md5_hex(join("\n", map { join(" ", @$_) } @s)), "\n";
for my $w (sort keys %h) { my $t = 0; $t += $_ for values %{$h{$w}}; print "$w $t\n"; }
my $text = join(" ", map { $_->[1] } @s);
my $n = () = $text =~ /\b(\w)\w*\s+\1\w*/g;
print "alliterations $n\n";
EOF
}
c_perl() { run perl "$IN/t.pl" "$IN/in.txt"; }

compat_case lua fast 'lua5.4: tables, sort, strings' lua5.4 -- lua5.4
p_lua() {
	gen_lines 20000 11 > in.txt
	cat > t.lua <<'EOF'
local rows = {}
for line in io.lines(arg[1]) do
  local a, w1, w2, b = line:match("(%d+) (%a+) (%a+) (%d+)")
  rows[#rows + 1] = { tonumber(a), w1, w2, tonumber(b) }
end
table.sort(rows, function(x, y)
  for i = 1, 4 do if x[i] ~= y[i] then return x[i] < y[i] end end
  return false
end)
local count = {}
for _, r in ipairs(rows) do local k = r[2] .. "-" .. r[3]; count[k] = (count[k] or 0) + r[4] end
local keys = {}
for k in pairs(count) do keys[#keys + 1] = k end
table.sort(keys)
local parts = {}
for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. count[k] end
local s = table.concat(parts, ",")
local h = 0
for i = 1, #s do h = (h * 31 + s:byte(i)) % 4294967296 end
print(#rows, #keys, #s, rows[1][1], rows[#rows][1], h)
EOF
}
c_lua() { run lua5.4 "$IN/t.lua" "$IN/in.txt"; }

compat_case tcl fast 'tclsh: lists, dicts, lsort, regsub' tclsh -- tcl
p_tcl() {
	gen_lines 10000 13 > in.txt
	cat > t.tcl <<'EOF'
set f [open [lindex $argv 0]]
set rows {}
while {[gets $f line] >= 0} {
    lappend rows $line
    lassign $line a w1 w2 b
    dict incr cnt "$w1-$w2" $b
}
close $f
set s [lsort -integer -index 0 $rows]
puts "[llength $s] {[lindex $s 0]} {[lindex $s end]}"
set keys [lsort [dict keys $cnt]]
puts "[llength $keys] [dict get $cnt [lindex $keys 0]]"
set str [join $s \n]
puts [string length $str]
puts [regsub -all {(\w+)ie(\w*)} $str {\2\1} out]
puts [string length $out]
EOF
}
c_tcl() { run tclsh "$IN/t.tcl" "$IN/in.txt"; }

# gawk is linked with libsigsegv (stack overflow detection).
compat_case gawk full 'gawk (libsigsegv): arrays, asort, gensub' gawk -- gawk
p_gawk() { gen_lines 200000 17 > in.txt; }
c_gawk() {
	run gawk '{ c[$2 " " $3] += $4; n[$1]++; s = s gensub(/([a-z])[a-z]*/, "\\1", "g", $2) }
	END { PROCINFO["sorted_in"] = "@ind_str_asc"; for (k in c) print k, c[k]
	      m = asort(n, v); print m, v[1], v[m], length(s) }' "$IN/in.txt"
}

compat_case mawk fast 'mawk: arrays, printf, split' mawk -- mawk
p_mawk() { gen_lines 50000 19 > in.txt; }
c_mawk() {
	run mawk '{ c[$2 " " $3] += $4; n[$1]++; l += length($2); split($0, f, /[aeiou]/); v += length(f) }
	END { for (k in c) print k, c[k] | "sort"; close("sort"); print length(n), l, v }' "$IN/in.txt"
}

# clisp is linked with libsigsegv (its generational GC's write barrier).
compat_case clisp fast 'clisp (libsigsegv): hash tables, bignums, GC' clisp -- clisp
p_clisp() {
	cat > t.lisp <<'EOF'
(defun fib (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(print (fib 18))
(let ((h (make-hash-table :test 'equal)))
  (dotimes (i 30000) (setf (gethash (format nil "k~D" i) h) (* i i)))
  (print (list (hash-table-count h) (gethash "k12345" h))))
(print (length (sort (loop for i below 30000 collect (mod (* i 7919) 100003)) #'<)))
(print (mod (let ((f 1)) (dotimes (i 800 f) (setq f (* f (1+ i))))) 1000000007))
(terpri)
EOF
}
c_clisp() { run clisp -q -norc "$IN/t.lisp"; }

# maude is linked with libsigsegv (stack overflow detection).
compat_case maude full 'maude (libsigsegv): rewriting' maude -- maude
p_maude() {
	cat > t.maude <<'EOF'
fmod FIB is
  protecting NAT .
  op fib : Nat -> Nat .
  var N : Nat .
  eq fib(0) = 0 .
  eq fib(1) = 1 .
  eq fib(s s N) = fib(s N) + fib(N) .
endfm
red fib(16) .
fmod SORTING is
  protecting NAT .
  sort List .
  subsort Nat < List .
  op nil : -> List .
  op __ : List List -> List [assoc id: nil] .
  op gen : Nat Nat -> List .
  vars N M K : Nat .
  var L : List .
  eq gen(0, K) = nil .
  eq gen(s N, K) = ((K * 7919) rem 1009) gen(N, s K) .
  ceq L N M = L M N if M < N .
endfm
red gen(50, 1) .
q
EOF
}
c_maude() { run maude -no-banner -no-advise -no-tecla "$IN/t.maude"; }
# maude reports the time of each reduction ("rewrites: 5 in 0ms cpu (0ms
# real) (~ rewrites/second)").
f_maude() { sed 's/^\(rewrites: [0-9]*\) in .*/\1/'; }

compat_case bc fast 'bc: 500 digits of pi, 1000!' bc -- bc
c_bc() { printf 'scale=500\n4*a(1)\nf=1\nfor (i = 2; i <= 1000; i++) f *= i\nlength(f)\nf %% 1000000007\n' | run bc -l; }

compat_case m4 fast 'm4: recursive macros' m4 -- m4
p_m4() {
	cat > t.m4 <<'EOF'
define(`fib', `ifelse(eval($1 < 2), 1, $1, `eval(fib(decr($1)) + fib(decr(decr($1))))')')dnl
define(`forloop', `pushdef(`$1', `$2')_forloop($@)popdef(`$1')')dnl
define(`_forloop', `$4`'ifelse($1, `$3', `', `define(`$1', incr($1))$0($@)')')dnl
fib(16)
forloop(`i', `1', `3000', `define(`v'i, eval(i * i % 977))')dnl
forloop(`i', `1', `3000', `v'i )
len(forloop(`i', `1', `3000', `translit(`abcdefghij', `a-j', `A-J')'))
EOF
}
c_m4() { run m4 "$IN/t.m4"; }

compat_case jq fast 'jq: group_by, sort, reduce' jq -- jq
p_jq() { gen_lines 4000 23 | mawk '{ printf "{\"n\":%d,\"a\":\"%s\",\"b\":\"%s\",\"v\":%d}\n", $1, $2, $3, $4 }' > in.json; }
c_jq() { run jq -s -c 'group_by(.a) | map({a: .[0].a, n: length, v: (map(.v) | add), top: (sort_by(.n) | .[-1].n)})' "$IN/in.json"; }

# ---- text tools, coreutils and findutils -------------------------------------

compat_case sed_grep fast 'sed, grep -E, sort, uniq' sed grep -- sed grep coreutils
p_sed_grep() { gen_lines 60000 29 > in.txt; }
c_sed_grep() {
	cd "$IN" || return 1
	run sh -c 'grep -E -c "^[0-9]+ (alpha|zulu) " in.txt
		sed -E "s/([a-z]+) ([a-z]+)/\2 \1/; s/[0-9]+\$/<&>/" in.txt | md5sum
		grep -o -E "\b[a-z]{5}\b" in.txt | sort | uniq -c | sort -k1,1nr -k2 | head -n 5
		grep -v -E "([a-z])\1" in.txt | wc -l'
}

compat_case sort_uniq fast 'sort (2 threads) | uniq -c | sort -rn' sort -- coreutils
p_sort_uniq() { gen_lines 80000 31 > in.txt; }
c_sort_uniq() {
	run sh -c 'sort -n -k1,1 -k4,4 -k2 "$IN/in.txt" | md5sum
		cut -d" " -f2,3 "$IN/in.txt" | sort | uniq -c | sort -k1,1nr -k2 | head -n 8'
}

compat_case join fast 'join, sort, comm, paste' join -- coreutils
p_join() {
	gen_lines 150000 37 | mawk '{ print $1 "_" NR, $2 }' | sort -k1,1 > a.txt
	gen_lines 150000 37 | mawk 'NR % 3 { print $1 "_" NR, $3, $4 }' | sort -k1,1 > b.txt
}
c_join() {
	run sh -c 'join "$IN/a.txt" "$IN/b.txt" | md5sum; join -v1 "$IN/a.txt" "$IN/b.txt" | wc -l
		cut -d" " -f1 "$IN/a.txt" > ka; cut -d" " -f1 "$IN/b.txt" > kb; comm -3 ka kb | wc -l
		paste -d, ka kb | tail -n 2'
}

compat_case find_xargs fast 'find | xargs md5sum, find -exec' find xargs md5sum -- findutils coreutils
p_find_xargs() {
	i=0
	while [ $i -lt 30 ]; do
		mkdir -p "tree/d$((i % 7))/e$((i % 5))"
		gen_lines $((200 + i * 40)) $((i + 1)) > "tree/d$((i % 7))/e$((i % 5))/f$i.txt"
		gen_lines 50 $((i + 100)) > "tree/d$((i % 7))/g$i.log"
		i=$((i + 1))
	done
}
c_find_xargs() {
	cd "$IN/tree" || return 1
	run sh -c 'find . -type f -name "*.txt" -print0 | sort -z | xargs -0 md5sum
		find . -type f -size +8k | sort | xargs wc -l | tail -n 1
		find . -name "*.log" -exec cat {} + | sort | md5sum
		find . -type d | sort | tr "\n" " "; echo'
}

compat_case tr_wc fast 'tr, wc, cut, fold, md5sum, sha256sum' tr wc -- coreutils
p_tr_wc() { gen_lines 100000 41 > in.txt; }
c_tr_wc() {
	run sh -c 'tr a-z A-Z < "$IN/in.txt" | tr -s " " "\n" | wc -l -w -c
		tr -d 0-9 < "$IN/in.txt" | md5sum
		cut -c1-12 "$IN/in.txt" | fold -w 7 | sha256sum
		rev "$IN/in.txt" | head -n 3' 2>&1
}

compat_case split_cat full 'split, cat, sha256sum, cmp' split -- coreutils
p_split_cat() { gen_lines 300000 43 > in.txt; }
c_split_cat() {
	run sh -c 'split -l 7000 "$IN/in.txt" part.; ls part.* | wc -l
		cat part.* | sha256sum; sha256sum < "$IN/in.txt"
		md5sum part.* | md5sum; cat part.* | cmp - "$IN/in.txt" && echo same'
}

compat_case xargs_parallel full 'xargs -P2 sh -c, seq, sort -n' xargs -- findutils
c_xargs_parallel() {
	run sh -c 'seq 1 400 | xargs -P2 -n 20 sh -c "for i; do echo \$((i * i % 9973)); done" sh | sort -n | md5sum'
}

compat_case diff_patch full 'diff -u, patch, cmp' diff patch -- diffutils patch
p_diff_patch() {
	gen_lines 60000 47 > a.txt
	gen_lines 60000 47 | mawk 'NR % 97 == 0 { $2 = "changed" } NR % 211 != 0 { print }' > b.txt
}
c_diff_patch() {
	run sh -c 'diff -u --label a --label b "$IN/a.txt" "$IN/b.txt" > ab.diff; echo "diff: $?"; wc -l < ab.diff
		patch -s -o new.txt "$IN/a.txt" < ab.diff && cmp new.txt "$IN/b.txt" && echo patched'
}

compat_case tar_gz full 'tar --sort | gzip, tar x, diff -r' tar -- tar gzip diffutils
p_tar_gz() { p_find_xargs; }
c_tar_gz() {
	run sh -c 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$IN" -cf - tree | gzip -n -6 > t.tgz
		md5sum < t.tgz; mkdir x && tar -xzf t.tgz -C x && diff -r x/tree "$IN/tree" && echo same'
}

# ---- compressors: round trips ---------------------------------------------

compat_case gzip fast 'gzip -9 round trip' gzip -- gzip
p_gzip() { gen_lines 300000 53 > in.txt; }
c_gzip() { run sh -c 'gzip -9 -n -c "$IN/in.txt" > x.gz; wc -c < x.gz; gzip -dc x.gz | md5sum; md5sum < "$IN/in.txt"'; }

compat_case xz fast 'xz -0 -T2 round trip' xz -- xz-utils
p_xz() { gen_lines 60000 59 > in.txt; }
c_xz() { run sh -c 'xz -0 -T2 -c "$IN/in.txt" > x.xz; xz -t x.xz && xz -dc x.xz | md5sum; md5sum < "$IN/in.txt"'; }

# The same at -5: its match finder's hash chains (10 MiB) are read at
# random, a working set larger than the pool.
compat_case xz_5 full 'xz -5 -T2 round trip' xz -- xz-utils
p_xz_5() { p_xz; }
c_xz_5() { run sh -c 'xz -5 -T2 -c "$IN/in.txt" > x.xz; xz -t x.xz && xz -dc x.xz | md5sum; md5sum < "$IN/in.txt"'; }

compat_case bzip2 fast 'bzip2 -9 round trip' bzip2 -- bzip2
p_bzip2() { gen_lines 80000 61 > in.txt; }
c_bzip2() { run sh -c 'bzip2 -9 -c "$IN/in.txt" > x.bz2; wc -c < x.bz2; bzip2 -dc x.bz2 | md5sum; md5sum < "$IN/in.txt"'; }

compat_case zstd full 'zstd -15 -T2 round trip' zstd -- zstd
p_zstd() { gen_lines 200000 67 > in.txt; }
c_zstd() { run sh -c 'zstd -q -15 -T2 -c "$IN/in.txt" > x.zst; zstd -q -t x.zst && zstd -q -dc x.zst | md5sum; md5sum < "$IN/in.txt"'; }

# ---- sqlite3, git ---------------------------------------------------------

compat_case sqlite3 fast 'sqlite3 CLI: insert, index, join, group by' sqlite3 -- sqlite3
p_sqlite3() {
	cat > t.sql <<'EOF'
PRAGMA cache_size = -32768;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80000)
  INSERT INTO t SELECT i, printf('w%08d', (i * 7919) % 80021), i % 1000 FROM n;
CREATE INDEX tb ON t(b);
SELECT count(*), sum(c), min(b), max(b) FROM t;
SELECT c, count(*) FROM t GROUP BY c ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(*), sum(y.c) FROM t x JOIN t y ON x.c = y.a;
SELECT group_concat(b, '') IS NOT NULL, length(group_concat(b, '')) FROM t;
UPDATE t SET b = upper(b) WHERE a % 3 = 0;
DELETE FROM t WHERE a % 5 = 0;
VACUUM;
SELECT count(*), sum(length(b)) FROM t WHERE b > 'W';
PRAGMA integrity_check;
EOF
}
c_sqlite3() { run sqlite3 db.sqlite < "$IN/t.sql"; }

compat_case git fast 'git: init, 6 commits, log, gc, fsck' git -- git
p_git() {
	gen_lines 30000 71 > in.txt
	cat > git.sh <<'EOF'
# Fixed names and dates: the commits' hashes are the same in every run.
export GIT_AUTHOR_NAME=A GIT_AUTHOR_EMAIL=a@example.org GIT_COMMITTER_NAME=C GIT_COMMITTER_EMAIL=c@example.org
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main repo && cd repo || exit 1
i=1
while [ $i -le 6 ]; do
	export GIT_AUTHOR_DATE="@$((1700000000 + i * 3600)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i * 3600)) +0000"
	sed -n "$((i * 1000)),$((i * 1000 + 12000))p" "$1" > data.txt
	mawk -v i=$i 'NR % i == 0' "$1" | head -n 3000 > "part$((i % 4)).txt"
	git add -A && git commit -q -m "commit $i" || exit 1
	i=$((i + 1))
done
git log --stat --format='%H %s' | md5sum
git rev-parse HEAD
git gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
git fsck --full --no-progress && echo fsck ok
git log --format=%s | wc -l
git diff HEAD~3 --stat | tail -n 1
EOF
}
c_git() { run sh "$IN/git.sh" "$IN/in.txt"; }

# ---- compilers ------------------------------------------------------------

compat_case gcc fast 'gcc -O2 (cc1, as, ld), then the program' gcc -- gcc libc6-dev
p_gcc() {
	mawk 'BEGIN {
		print "#include <stdio.h>"
		for (i = 0; i < 60; i++)
			printf "static unsigned f%d(unsigned x) { for (int k = 0; k < %d; k++) x = x * %d + (x >> %d) + k; return x; }\n", i, i % 7 + 1, 2 * i + 3, i % 13 + 1
		print "int main(void) { unsigned s = 1;"
		for (i = 0; i < 60; i++) printf "  s = f%d(s) ^ %d;\n", i, i
		print "  printf(\"%u\\n\", s); return 0; }"
	}' > big.c
}
c_gcc() { run sh -c 'gcc -O2 -o prog "$IN/big.c" && ./prog'; }

compat_case tcc fast 'tcc: compile and link, then the program' tcc -- tcc libc6-dev
p_tcc() {
	cat > t.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }
int main(int argc, char **argv)
{
	int n = atoi(argv[1]);
	char **v = malloc(n * sizeof(*v));
	unsigned x = 1, h = 0;
	for (int i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		v[i] = malloc(48);
		snprintf(v[i], 48, "%u-%d-%s", x >> 8, i, i % 2 ? "odd" : "even");
	}
	qsort(v, n, sizeof(*v), cmp);
	for (int i = 0; i < n; i++) {
		h = h * 31 + (unsigned char)v[i][0] + (unsigned char)v[i][5];
		free(v[i]);
	}
	printf("%d %s %u\n", n, "sorted", h);
	free(v);
	return 0;
}
EOF
}
c_tcc() { run sh -c 'tcc -o prog "$IN/t.c" && ./prog 40000'; }

# tcc -run writes the code into memory it allocated and makes it
# executable (mprotect PROT_EXEC).
compat_case tcc_run full 'tcc -run: code in the heap, executed' tcc -- tcc libc6-dev
p_tcc_run() { p_tcc; }
c_tcc_run() { run tcc -run "$IN/t.c" 80000; }

# ---- programs that spawn others -------------------------------------------

compat_case launcher fast '#!/bin/sh launcher running mawk, sort, subshells' sh -- dash
p_launcher() {
	gen_lines 100000 73 > in.txt
	cat > launch.sh <<'EOF'
#!/bin/sh
# A launcher script, as many packages install: run directly by pagemu run.
set -e
in=$1
n=$(wc -l < "$in")
echo "lines: $n"
top=$(mawk '{ s[$2] += $4 } END { for (k in s) print s[k], k }' "$in" | sort -rn | head -n 3 | tr '\n' ' ')
echo "top: $top"
( cd /; sort -u -k2,3 "$in" | wc -l )
for w in alpha kilo zulu; do
	printf '%s %s\n' "$w" "$(grep -c " $w " "$in")"
done
exec sh -c 'echo "exec: $0 $#"' last 1 2 3
EOF
	chmod +x launch.sh
}
c_launcher() { run "$IN/launch.sh" "$IN/in.txt"; }

compat_case make fast 'make -j2: a Makefile running cc, mawk, sort' make -- make gcc
p_make() {
	gen_lines 80000 79 > in.txt
	cat > Makefile <<'EOF'
# Recipes print nothing (-s): with -j2 their order would vary.
IN = $(dir $(lastword $(MAKEFILE_LIST)))
all: report
sorted.txt: $(IN)in.txt
	sort -k2,2 -k1,1n $< > $@
sums.txt: $(IN)in.txt
	mawk '{ s[$$3] += $$4 } END { for (k in s) print k, s[k] }' $< | sort > $@
main.c:
	printf '#include <stdio.h>\nint add(int, int);\nint main(void) { printf("%%d\\n", add(40, 2)); return 0; }\n' > $@
add.c:
	printf 'int add(int a, int b) { return a + b; }\n' > $@
%.o: %.c
	$(CC) -O1 -c $< -o $@
prog: main.o add.o
	$(CC) -o $@ main.o add.o
report: sorted.txt sums.txt prog
	./prog; md5sum sorted.txt; head -n 3 sums.txt
EOF
}
c_make() { run make -s -j2 -f "$IN/Makefile"; }

# GLib's spawn (g_spawn_sync) closes every descriptor above 2 in the child.
compat_case glib_spawn fast 'GLib g_spawn_sync (tests/progs/gspawn.c)' pkg-config /usr/include/glib-2.0/glib.h -- pkg-config libglib2.0-dev gcc
p_glib_spawn() { gen_lines 50000 83 | cut -d' ' -f1 > nums.txt && build_prog gspawn $(pkg-config --cflags --libs glib-2.0); }
c_glib_spawn() { run "$PROGS/gspawn" "$IN/nums.txt" 0; }

# The same with a GThreadPool first: GLib starts its threads with every
# signal blocked.
compat_case glib_threads full 'GLib GThreadPool, then g_spawn_sync' pkg-config /usr/include/glib-2.0/glib.h -- pkg-config libglib2.0-dev gcc
p_glib_threads() { p_glib_spawn; }
c_glib_threads() { run "$PROGS/gspawn" "$IN/nums.txt" 6; }

# gio launch spawns the desktop file's command (GDesktopAppInfo), which
# runs in the background: the case waits for the file it writes.
compat_case gio_launch full 'gio launch (GLib spawn of a .desktop Exec)' gio -- libglib2.0-bin
p_gio_launch() {
	gen_lines 50000 89 > in.txt
	cat > t.desktop <<EOF
[Desktop Entry]
Type=Application
Name=compat
Exec=sh -c "sort -n $IN/in.txt | md5sum > launched.tmp; mv launched.tmp launched.txt"
EOF
}
c_gio_launch() {
	run gio launch "$IN/t.desktop"
	st=$?
	i=0
	while [ ! -f launched.txt ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	cat launched.txt || st=1
	return $st
}

# ---- programs that close every descriptor ---------------------------------

compat_case close_range full 'close_range(3, ~0U) then the heap (tests/progs/close_all.c)' cc -- gcc libc6-dev
p_close_range() { build_prog close_all; }
c_close_range() { run "$PROGS/close_all" 24; }

compat_case close_daemon full 'daemon-like child: setsid, close all fds (close_all.c)' cc -- gcc libc6-dev
p_close_daemon() { build_prog close_all; }
c_close_daemon() { run "$PROGS/close_all" 24 --daemon; }

compat_case bash_closefd full "bash: exec 3>&- 4>&- ..., then \$(pipelines)" bash -- bash
p_bash_closefd() { gen_lines 20000 97 > in.txt; }
c_bash_closefd() {
	run bash -c 'for fd in 3 4 5 6 7 8 9; do eval "exec $fd>&-"; done
		n=$(sort -n "$1" | uniq | wc -l); echo "uniq: $n"
		declare -A h; while read -r a w1 w2 b; do h[$w1]=$(( ${h[$w1]:-0} + b )); done < "$1"
		for k in alpha mike zulu; do echo "$k ${h[$k]}"; done' bash "$IN/in.txt"
}
