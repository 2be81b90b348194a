# common.sh - sourced by the acceptance scripts in tests/accept/.
#
# Each script runs a real program nobody here wrote, natively and under
# `pagemu run` with a pool of about a quarter of the program's own peak RSS
# (measured natively with /usr/bin/time in the same script), and compares
# the outputs. Exit status: 0 pass, 1 fail, 2 set-up missing (what to
# install is printed).
#
# A run passes only when its report shows that it ran on pagemu (faults;
# a shim that fell back to glibc's malloc writes no report) and paged
# (evictions; in uthash, some of the runs).
#
# Environment: B (build dir, default build), ACCEPT_CACHE (downloaded
# sources, default $B/accept), ACCEPT_TMP (scratch, default /var/tmp),
# ACCEPT_FRACTION (pool = peak RSS / this, default 4).

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${B:-build}
case $B in /*) ;; *) B=$TOP/$B ;; esac
PAGEMU=$B/pagemu
ACCEPT_CACHE=${ACCEPT_CACHE:-$B/accept}
ACCEPT_FRACTION=${ACCEPT_FRACTION:-4}
NAME=$(basename "$0" .sh)

say() { echo "$NAME: $*"; }
fail() { echo "$NAME: FAIL: $*"; exit 1; }

[ -x "$PAGEMU" ] || { say "FAIL: $PAGEMU not built (make)"; exit 1; }

# need_pkgs CMD... -- PKG...: when a command is missing, install the
# packages (as root) or print the exact apt-get line and stop.
need_pkgs() {
	missing=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		command -v "$1" >/dev/null 2>&1 || [ -e "$1" ] || missing=1
		shift
	done
	shift
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" = 0 ]; then
		say "installing: apt-get install -y $*"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } ||
			{ say "apt-get install $* failed"; exit 2; }
	else
		say "missing; as root run: apt-get install -y $*"
		exit 2
	fi
}

# need_source PKG FILE: the Debian source package PKG downloaded into
# $ACCEPT_CACHE/PKG (apt-get source --download-only; a deb-src entry for
# the configured mirror and release is added in a temporary sources file
# when none exists, and removed afterwards). FILE is a glob of the upstream
# tarball that must be present afterwards; prints its path.
need_source() {
	pkg=$1 glob=$2 dir=$ACCEPT_CACHE/$1
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	set -- $dir/$glob
	if [ -f "$1" ]; then echo "$1"; return 0; fi
	if [ "$(id -u)" != 0 ]; then
		say "source package $pkg missing; as root run: sh $TOP/tests/accept/$NAME.sh (adds deb-src and runs apt-get source --download-only $pkg in $dir)" >&2
		exit 2
	fi
	tmpsrc=
	if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then
		codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
		src822=$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
		if [ -n "$src822" ]; then
			# deb822: the first stanza that is not security, as deb-src,
			# same URIs and Signed-By (apt refuses differing Signed-By).
			tmpsrc=/etc/apt/sources.list.d/pagemu-accept-src.sources
			awk -v c="$codename" 'BEGIN { RS = ""; ORS = "\n" }
				!/security/ && /Types:.*deb/ && !done {
					n = split($0, l, "\n"); done = 1
					for (i = 1; i <= n; i++) {
						if (l[i] ~ /^#/) continue
						if (l[i] ~ /^Types:/) l[i] = "Types: deb-src"
						if (l[i] ~ /^Suites:/) l[i] = "Suites: " c
						print l[i]
					}
				}' "$src822" > "$tmpsrc"
		else
			uri=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
			[ -n "$uri" ] || uri=http://deb.debian.org/debian
			tmpsrc=/etc/apt/sources.list.d/pagemu-accept-src.list
			echo "deb-src $uri $codename main" > "$tmpsrc"
		fi
		say "added $tmpsrc (deb-src, removed afterwards):" $(grep -v '^Signed' "$tmpsrc") >&2
		apt-get update -qq >/dev/null 2>&1
	fi
	# Some pieces of a source package may be missing on a mirror (seen:
	# uthash's debian.tar.xz 404): only the upstream tarball matters here.
	(cd "$dir" && apt-get source -qq --download-only "$pkg" >/dev/null 2>"$dir/apt-get.log")
	if [ -n "$tmpsrc" ]; then rm -f "$tmpsrc"; apt-get update -qq >/dev/null 2>&1; fi
	# shellcheck disable=SC2086
	set -- $dir/$glob
	if [ -f "$1" ]; then echo "$1"; return 0; fi
	say "apt-get source $pkg failed:" >&2
	cat "$dir/apt-get.log" >&2
	exit 2
}

# peak_kb CMD...: run CMD natively (stdout to /dev/null), print its peak
# RSS in KiB (/usr/bin/time -f %M).
peak_kb() {
	/usr/bin/time -f %M -o "$WORK/peak.kb" "$@" >/dev/null || fail "native run failed: $*"
	tail -n 1 "$WORK/peak.kb"
}

# pool_for KB: the pool size for pagemu run --memory: KB / ACCEPT_FRACTION,
# at least 256K (64 frames).
pool_for() {
	p=$(( $1 / ACCEPT_FRACTION ))
	[ $p -lt 256 ] && p=256
	echo "${p}K"
}

# under_pagemu MEMORY REPORT CMD...: CMD under pagemu run --memory MEMORY,
# JSON report (one line per process) to REPORT.
under_pagemu() {
	mem=$1 rep=$2
	shift 2
	"$PAGEMU" run --memory "$mem" --report "$rep" -- "$@"
}

# report_sum REPORT KEY: KEY summed over the processes of a report.
report_sum() {
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1" | awk '{ s += $1 } END { print s + 0 }'
}

# ran_on_pagemu REPORT: the run wrote its report, with faults (a program
# whose malloc is glibc's writes none).
ran_on_pagemu() {
	[ -s "$1" ] && [ "$(report_sum "$1" faults)" -gt 0 ]
}

# paged REPORT: ran on pagemu and evicted pages.
paged() {
	ran_on_pagemu "$1" && [ "$(report_sum "$1" evictions)" -gt 0 ]
}

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

mk_work() {
	WORK=$(mktemp -d "${ACCEPT_TMP:-/var/tmp}/pagemu-accept-$NAME.XXXXXX") || exit 2
	trap 'rm -rf "$WORK"' EXIT
	trap 'exit 130' INT TERM
}
