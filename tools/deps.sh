#!/bin/sh
# Install the Debian packages the build needs, when missing.
# As root: apt-get installs them. Otherwise: print the exact command, fail.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "pagemu: installing build dependencies:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
		echo "pagemu: apt-get install$missing failed" >&2; exit 1; }
	exit 0
fi
echo "pagemu: missing build dependencies. Run as root:" >&2
echo "    apt-get install -y$missing" >&2
exit 1
