# kernel_swap.sh - sourced by the benchmark scripts that run a program under
# Linux's own paging as the baseline: a swap file made for the run and a
# memory cgroup (v1, or v2) that limits the program. Everything set up is
# undone by ks_cleanup (call it from the script's EXIT trap).
#
#   why=$(ks_why "$SWAPDIR")          empty when the baseline can run, else why not
#   ks_setup NAME SWAPDIR SWAPSIZE LIMIT   swap file + cgroup NAME limited to LIMIT
#   ks_in_cgroup CMD ARGS...          run CMD inside the cgroup
#   ks_vmstat KEY                     a /proc/vmstat counter
#   ks_cleanup                        undo (safe to call twice)
#   $KS_AWK_MEDIAN                    an awk function median(key) over cnt[]/val[]

KS_CG=
KS_SWAPFILE=
KS_SWAPON=0
KS_CGV=

ks_why()
{
	fst=$(stat -f -c %T "$1" 2>/dev/null || echo missing)
	if [ "$(id -u)" != 0 ]; then
		echo "not root (the kernel baseline needs a memory cgroup and swapon)"
	elif ! command -v mkswap >/dev/null || ! command -v swapon >/dev/null; then
		echo "mkswap/swapon not found"
	elif [ ! -f /sys/fs/cgroup/memory/memory.limit_in_bytes ] &&
	     ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		echo "no memory cgroup controller (v1 /sys/fs/cgroup/memory or v2 memory)"
	else
		case $fst in tmpfs|ramfs|missing) echo "swap directory $1 is $fst (need a disk file system: --swap-dir)" ;; esac
	fi
}

# What a run killed before its cleanup left behind (its swap file still
# on, its cgroup still there): undone first, said so.
ks_leftovers()
{
	if awk -v f="$KS_SWAPFILE" '$1 == f { found = 1 } END { exit !found }' /proc/swaps 2>/dev/null; then
		echo "kernel_swap.sh: $KS_SWAPFILE is still on from an earlier run: swapoff" >&2
		swapoff "$KS_SWAPFILE" || return 1
	fi
	for cg in "/sys/fs/cgroup/memory/$1" "/sys/fs/cgroup/$1"; do
		[ -d "$cg" ] || continue
		echo "kernel_swap.sh: the cgroup $cg is left from an earlier run: removed" >&2
		for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do
			echo "$p" > "$(dirname "$cg")/cgroup.procs" 2>/dev/null
		done
		rmdir "$cg" 2>/dev/null || true
	done
}

ks_setup()
{
	name=$1 dir=$2 size=$3 limit=$4
	KS_SWAPFILE=$dir/$name.swap
	ks_leftovers "$name"
	rm -f "$KS_SWAPFILE"
	if ! { fallocate -l "$size" "$KS_SWAPFILE" && chmod 600 "$KS_SWAPFILE" &&
	       mkswap -q "$KS_SWAPFILE" >/dev/null && swapon "$KS_SWAPFILE"; } 2>/dev/null; then
		# Some file systems refuse fallocated swap files: write it out.
		rm -f "$KS_SWAPFILE"
		mib=$(( $(numfmt --from=iec "$size") / 1048576 ))
		dd if=/dev/zero of="$KS_SWAPFILE" bs=1M count=$mib status=none && chmod 600 "$KS_SWAPFILE" &&
			mkswap -q "$KS_SWAPFILE" >/dev/null && swapon "$KS_SWAPFILE" || return 1
	fi
	KS_SWAPON=1
	if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
		KS_CGV=1
		KS_CG=/sys/fs/cgroup/memory/$name
		mkdir "$KS_CG" && echo "$limit" > "$KS_CG/memory.limit_in_bytes" || return 1
		[ -f "$KS_CG/memory.swappiness" ] && echo 60 > "$KS_CG/memory.swappiness"
	else
		KS_CGV=2
		KS_CG=/sys/fs/cgroup/$name
		mkdir "$KS_CG" && echo "$limit" > "$KS_CG/memory.max" || return 1
	fi
	return 0
}

ks_in_cgroup()
{
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$KS_CG" "$@"
}

ks_vmstat()
{
	awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat
}

ks_cleanup()
{
	if [ -n "$KS_CG" ] && [ -d "$KS_CG" ]; then
		# Anything left in the group goes back to the root, then the group goes.
		for p in $(cat "$KS_CG/cgroup.procs" 2>/dev/null); do
			echo "$p" > "$(dirname "$KS_CG")/cgroup.procs" 2>/dev/null
		done
		rmdir "$KS_CG" 2>/dev/null || echo "kernel_swap.sh: could not remove $KS_CG" >&2
	fi
	if [ "$KS_SWAPON" = 1 ]; then
		swapoff "$KS_SWAPFILE" || echo "kernel_swap.sh: swapoff $KS_SWAPFILE failed" >&2
	fi
	[ -n "$KS_SWAPFILE" ] && rm -f "$KS_SWAPFILE"
	KS_CG= KS_SWAPFILE= KS_SWAPON=0
}

KS_AWK_MEDIAN='
function median(key,    n, i, j, t, v) {
	n = cnt[key]
	if (!n) return -1
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}'
