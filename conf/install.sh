#!/bin/sh
# install.sh - install tern as the file manifest (conf/tern-files) says.
#
#   BUILD=build DESTDIR= sysconfdir=/etc/tern libexecdir=... sbindir=...
#   mandir=... queue_directory=... data_directory=... sh conf/install.sh conf/tern-files
#
# Run by "make install", which passes the Makefile's variables. For each
# manifest line: directories are created, programs copied from $BUILD
# (one that is not built yet is skipped, with a note), configuration
# files copied from conf/ unless they exist already (flag c), and each
# gets its mode and, when installing as root into the live system, its
# owner and group. Every man page under man/ is installed as 0644.
#
# With DESTDIR set (packaging), nothing is chowned and no user or group
# is created: the package's own scripts do that on the target machine,
# and set-id bits are left off until then. Installing for real as root,
# the system user $mail_owner (default tern) and the group $setgid_group
# (default terndrop) are created when missing.
#
# A fresh tern.conf shows the directories chosen here as its defaults; a
# fresh master.conf has the lines of the programs being installed
# enabled. Existing configuration files are never touched. mailq and
# newaliases are installed as symbolic links to sendmail.
#
# Fails (exit 1) on the first error, saying what it was doing.
set -eu

manifest=${1:?usage: install.sh MANIFEST}
src=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
DESTDIR=${DESTDIR:-}
sysconfdir=${sysconfdir:-/etc/tern}
libexecdir=${libexecdir:-/usr/local/libexec/tern}
sbindir=${sbindir:-/usr/local/sbin}
bindir=${bindir:-/usr/local/bin}
mandir=${mandir:-/usr/local/share/man}
queue_directory=${queue_directory:-/var/spool/tern}
data_directory=${data_directory:-/var/lib/tern}
mail_owner=${mail_owner:-tern}
setgid_group=${setgid_group:-terndrop}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

case $BUILD in /*) ;; *) BUILD=$src/$BUILD ;; esac
[ -r "$manifest" ] || die "cannot read the manifest $manifest"

# set_owner - chown only into the live system, as root
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
	set_owner=yes
else
	set_owner=no
fi

# ensure_accounts - the system user and groups the manifest names
ensure_accounts() {
	if ! getent group "$setgid_group" >/dev/null; then
		groupadd --system "$setgid_group" || die "groupadd $setgid_group failed"
		say "created system group $setgid_group"
	fi
	if ! getent passwd "$mail_owner" >/dev/null; then
		if getent group "$mail_owner" >/dev/null; then
			g="--gid $mail_owner"
		else
			g=--user-group
		fi
		# shellcheck disable=SC2086
		useradd --system $g --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$mail_owner" || die "useradd $mail_owner failed"
		say "created system user $mail_owner (no login shell, no home directory)"
	fi
}

# expand PATH - "$queue_directory/incoming" to its place under DESTDIR
expand() {
	var=${1%%/*}
	rest=${1#"$var"}
	case $var in
	'$queue_directory') base=$queue_directory ;;
	'$data_directory') base=$data_directory ;;
	'$daemon_directory') base=$libexecdir ;;
	'$command_directory') base=$sbindir ;;
	'$sysconfdir') base=$sysconfdir ;;
	'$mandir') base=$mandir ;;
	'$bindir') base=$bindir ;;
	*) die "$manifest: unknown variable $var in $1" ;;
	esac
	printf '%s%s%s' "$DESTDIR" "$base" "$rest"
}

# owner_spec OWNER GROUP - the argument for chown
owner_spec() {
	case $1 in
	'$mail_owner') u=$mail_owner ;;
	*) u=$1 ;;
	esac
	case $2 in
	-|'$mail_owner') printf '%s:' "$u" ;;
	'$setgid_group') printf '%s:%s' "$u" "$setgid_group" ;;
	*) printf '%s:%s' "$u" "$2" ;;
	esac
}

# finish PATH OWNER GROUP MODE - owner first (chown clears set-id bits), then mode
finish() {
	m=$4
	if [ $set_owner = yes ]; then
		chown "$(owner_spec "$2" "$3")" "$1" || die "chown $1 failed"
	else
		# no set-id bits on a file whose group is not the right one yet
		case $m in
		[2-7]???) [ -d "$1" ] || m=0${m#?} ;;
		esac
	fi
	chmod "$m" "$1" || die "chmod $m $1 failed"
}

# fresh_tern_conf SRC DST - the defaults shown are the directories chosen here
fresh_tern_conf() {
	sed -e "s|^#queue_directory = .*|#queue_directory = $queue_directory|" \
	    -e "s|^#data_directory = .*|#data_directory = $data_directory|" \
	    -e "s|^#daemon_directory = .*|#daemon_directory = $libexecdir|" \
	    -e "s|^#command_directory = .*|#command_directory = $sbindir|" \
	    -e "s|^#config_directory = .*|#config_directory = $sysconfdir|" \
	    -e "s|^#mail_owner = .*|#mail_owner = $mail_owner|" \
	    -e "s|^#setgid_group = .*|#setgid_group = $setgid_group|" "$1" >"$2"
}

# fresh_master_conf SRC DST - enable the services whose program is installed now
fresh_master_conf() {
	awk -v build="$BUILD" '
	    /^# not built yet: / {
		prog = $5
		if (system("test -x \"" build "/" prog "\"") == 0) { enable = 1; next }
	    }
	    enable && /^#/ { sub(/^#/, ""); sub(/[ \t]/, "  "); enable = 0; print; next }
	    { enable = 0; print }' "$1" >"$2"
}

# install_file TYPE PATH OWNER GROUP MODE FLAGS
install_file() {
	dest=$(expand "$2")
	name=${2##*/}
	case $2 in
	'$sysconfdir/'*) from=$src/conf/$name ;;
	*) die "$manifest: no source for $2" ;;
	esac
	case $6 in
	*c*) if [ -e "$dest" ]; then say "kept your $dest"; return; fi ;;
	esac
	[ -r "$from" ] || die "missing $from"
	tmp=$dest.new.$$
	case $name in
	tern.conf) fresh_tern_conf "$from" "$tmp" ;;
	master.conf) fresh_master_conf "$from" "$tmp" ;;
	*) cp "$from" "$tmp" ;;
	esac
	finish "$tmp" "$3" "$4" "$5"
	mv -f "$tmp" "$dest"
	say "$dest"
}

# install_prog PATH OWNER GROUP MODE
install_prog() {
	dest=$(expand "$1")
	name=${1##*/}
	if [ ! -x "$BUILD/$name" ]; then
		skipped="$skipped $name"
		return
	fi
	tmp=$dest.new.$$
	cp "$BUILD/$name" "$tmp" || die "cannot copy $BUILD/$name"
	finish "$tmp" "$2" "$3" "$4"
	mv -f "$tmp" "$dest"
	say "$dest"
}

[ $set_owner = yes ] && ensure_accounts
skipped=
while read -r type path owner group mode flags; do
	case $type in
	''|'#'*) continue ;;
	esac
	flags=${flags:--}
	case $type in
	d|s)
		dest=$(expand "$path")
		mkdir -p "$dest" || die "mkdir $dest failed"
		finish "$dest" "$owner" "$group" "$mode"
		;;
	f) install_file "$type" "$path" "$owner" "$group" "$mode" "$flags" ;;
	x) install_prog "$path" "$owner" "$group" "$mode" ;;
	*) die "$manifest: unknown type '$type' for $path" ;;
	esac
done <"$manifest"

# mailq and newaliases are sendmail under other names (sendmail(1)): links
sbin_dest=$(expand '$command_directory')
if [ -x "$sbin_dest/sendmail" ]; then
	for link in mailq newaliases; do
		ln -sfn sendmail "$sbin_dest/$link" || die "ln -s sendmail $sbin_dest/$link failed"
		say "$sbin_dest/$link -> sendmail"
	done
fi

for page in "$src"/man/man[1-8]/*.[1-8]; do
	[ -f "$page" ] || continue
	sec=$(basename "$(dirname "$page")")
	mkdir -p "$DESTDIR$mandir/$sec"
	cp "$page" "$DESTDIR$mandir/$sec/" && chmod 0644 "$DESTDIR$mandir/$sec/${page##*/}"
	say "$DESTDIR$mandir/$sec/${page##*/}"
done

[ -n "$skipped" ] && say "not built yet, so not installed:$skipped"
if [ $set_owner = no ] && [ -z "$DESTDIR" ]; then
	say "not root: owners were left as they are; run \"ternctl check\" as root to set them"
fi
if [ -z "$DESTDIR" ]; then
	cat <<EOF

tern is installed. Next:
  1. Look at $sysconfdir/tern.conf (myhostname, mydestination, mynetworks)
     and $sysconfdir/master.conf (the services and ports).
  2. $sbindir/ternctl check
     validates the configuration and creates or repairs the queue.
  3. Stop the MTA that holds port 25 now (Postfix, Exim), then
     $sbindir/ternctl start
     $sbindir/ternctl status
See ternctl(8) and README.md.
EOF
fi
