#!/usr/bin/env bash
# Runs groups of PCP's own QA suite (Debian's pcp-testsuite 6.0.3 in
# /var/lib/pcp/testsuite, `./check -g GROUP` as user pcpqa) twice: once
# with PCP's agents, once with ours standing in for pmdaopenmetrics and
# pmdabpftrace, and prints both pass counts.
#
#   scripts/pcp-qa.sh [--pcp-only|--ours-only] [--tests "1306 1221"] [--report] GROUP...
#   e.g. scripts/pcp-qa.sh pmda.openmetrics pmda.bpftrace
#   (--report: only compare the results of the last run again)
#
# Every run happens inside a private mount, network and PID namespace
# (unshare): /etc/pcp, /etc/default, /etc/sudoers.d, /var/lib, /var/log,
# /usr/lib/pcp and the systemd unit directory are copy-on-write overlays on
# a tmpfs, /run/pcp, /tmp and /var/tmp are fresh tmpfs, and the network
# has only its own loopback. QA starts, stops and reconfigures its own
# pmcd there (through PCP's init scripts: systemctl is hidden, as it does
# not work on this kind of machine); the machine's pmcd on :44321, its
# configuration and the other processes are never seen nor touched, and
# everything QA changed disappears with the namespace. Results (check's
# output, each failing test's .out.bad, .full and the agents' logs) are
# copied to target/pcp-qa/<pass>/ before the namespace ends.
#
# Our agents stand in through a small shim that replaces (in the overlay
# only; the package's files are symlinks into /usr/lib/pcp and are never
# written through) pmdaopenmetrics.python and pmdabpftrace.python with a
# Python script that answers the Install script's domain/namespace
# questions and execs `pcp-agent pmda prometheus -r openmetrics ...` /
# `pcp-agent pmda bpftrace ...`, so each test's own Install registers ours.
#
# The exit status is 0 when ours passes every test PCP's agents pass
# (apart from the differences listed with `known` below, each
# with its reason), 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out_root=${PCP_QA_OUT:-$here/target/pcp-qa}
testsuite=/var/lib/pcp/testsuite
std_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Differences in QA output that are deliberate: `known TEST REGEX REASON`.
# A test that passes with PCP's agents and fails with ours counts as passed
# when every difference from its expected output is a changed line (the
# same line, in a change of as many lines) whose text with our agents
# matches REGEX of one of the test's entries; lines added or missing never
# count. The reasons are printed with the result.
KNOWN_TESTS=() KNOWN_REGEXES=() KNOWN_REASONS=()
known() { KNOWN_TESTS+=("$1"); KNOWN_REGEXES+=("$2"); KNOWN_REASONS+=("$3"); }

known 1221 'labels \{.*(\\"|\\\\|\\n)' \
  "label values holding a quote, a backslash or a newline: pmdaopenmetrics pastes values into the JSON \
label set unescaped, so pmcd rejects the whole set and every label of that metric or instance is lost \
(the instname note too); ours escapes them and keeps the labels"

log() { printf 'pcp-qa: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------

# Copy-on-write overlay of directory $1 (upper and work dirs in the tmpfs).
overlay() {
  local d=$1 n
  [ -d "$d" ] || return 0
  n=$(echo "$d" | tr / _)
  mkdir -p "$scratch/up/$n" "$scratch/work/$n"
  # The merged directory takes its owner and mode from the upper one.
  chown --reference="$d" "$scratch/up/$n"
  chmod --reference="$d" "$scratch/up/$n"
  mount -t overlay overlay \
    -o "lowerdir=$d,upperdir=$scratch/up/$n,workdir=$scratch/work/$n" "$d"
}

fresh_tmpfs() {
  local d=$1 mode=$2 owner=${3:-root:root}
  mkdir -p "$d"
  mount -t tmpfs -o "mode=$mode" tmpfs "$d"
  chown "$owner" "$d"
}

# The shims that stand our agents in for PCP's. $1: the pcp-agent binary.
install_shims() {
  local bin=$1 dir
  dir=/var/lib/pcp/pmdas/openmetrics
  rm -f "$dir/pmdaopenmetrics.python"      # a symlink: never write through it
  cat >"$dir/pmdaopenmetrics.python" <<EOF
#!/usr/bin/env python3
"""pcp-agent standing in for pmdaopenmetrics (scripts/pcp-qa.sh)."""
import os, sys
if 'PCP_PYTHON_DOMAIN' in os.environ:
    print('#define OPENMETRICS 144')
    sys.exit(0)
if 'PCP_PYTHON_PMNS' in os.environ:
    root = os.environ['PCP_PYTHON_PMNS'] == 'root'
    print('root {\n\topenmetrics\t144:*:*\n}' if root else 'openmetrics\t144:*:*')
    sys.exit(0)
args = sys.argv[1:]
if '-l' not in args and '--log' not in args:
    args = ['-l', 'openmetrics.log'] + args
if '-r' not in args and '--root' not in args:
    args = ['-r', 'openmetrics'] + args
os.execv('$bin', ['$bin', 'pmda', 'prometheus', '--notready'] + args)
EOF
  dir=/var/lib/pcp/pmdas/bpftrace
  rm -f "$dir/pmdabpftrace.python"
  cat >"$dir/pmdabpftrace.python" <<EOF
#!/usr/bin/env python3
"""pcp-agent standing in for pmdabpftrace (scripts/pcp-qa.sh)."""
import os, sys
if 'PCP_PYTHON_DOMAIN' in os.environ:
    print('#define BPFTRACE 151')
    sys.exit(0)
if 'PCP_PYTHON_PMNS' in os.environ:
    root = os.environ['PCP_PYTHON_PMNS'] == 'root'
    print('root {\n\tbpftrace\t151:*:*\n}' if root else 'bpftrace\t151:*:*')
    sys.exit(0)
pmdas = os.environ.get('PCP_PMDAS_DIR', '/var/lib/pcp/pmdas')
sysconf = os.environ.get('PCP_SYSCONF_DIR', '/etc/pcp')
os.execv('$bin', ['$bin', '--agents', 'bpftrace',
    '--bpftrace-config', pmdas + '/bpftrace/bpftrace.conf',
    '--bpftrace-autostart', sysconf + '/bpftrace/autostart',
    '--bpftrace-autostart', pmdas + '/bpftrace/autostart',
    'pmda', 'bpftrace', '-l', 'bpftrace.log'] + sys.argv[1:])
EOF
}

# A stand-in for chkconfig: PCP's rc scripts and QA ask it whether pmcd
# and pmlogger are enabled, and QA turns them on and off through it.
install_chkconfig() {
  local state=$scratch/chkconfig
  printf 'pmcd\npmlogger\n' >"$state"
  {
    echo '#!/bin/sh'
    echo '# chkconfig stand-in for PCP QA in a namespace (scripts/pcp-qa.sh)'
    echo "state=$state"
    cat <<'EOF'
on() { grep -qx "$1" "$state"; }
case "$1" in
  --list)
    if on "$2"; then l=on; else l=off; fi
    printf '%s\t0:off\t1:off\t2:%s\t3:%s\t4:%s\t5:%s\t6:off\n' "$2" $l $l $l $l ;;
  *)
    case "$2" in
      on) on "$1" || echo "$1" >>"$state" ;;
      off) grep -vx "$1" "$state" >"$state.new"; mv "$state.new" "$state" ;;
      '') on "$1" ;;
    esac ;;
esac
EOF
  } >/usr/local/sbin/chkconfig
  chmod 755 /usr/local/sbin/chkconfig
}

# The namespace's file system, network and services, as QA expects them.
# $1: pcp|ours, $2: the pcp-agent binary, $3: where logs go.
ns_setup() {
  local pass=$1 bin=$2 logs=$3
  scratch=$logs/.ns
  mkdir -p "$scratch"
  mount -t tmpfs -o mode=700 tmpfs "$scratch"

  ip link set lo up
  for d in /etc/pcp /etc/default /etc/sudoers.d /var/lib /var/log /usr/lib /usr/local/sbin; do
    overlay "$d"
  done
  # QA's bpftrace tests look for /lib/modules/$(uname -r) (kernel headers
  # for BCC); bpftrace itself runs on the kernel's BTF here.
  mkdir -p "/usr/lib/modules/$(uname -r)"
  if [ -n "$built" ] && [ -d "$built" ]; then
    # The testsuite as built once (its C programs, archives, localconfig).
    mkdir -p "$scratch/up/ts" "$scratch/work/ts"
    chown --reference="$built" "$scratch/up/ts"
    chmod --reference="$built" "$scratch/up/ts"
    mount -t overlay overlay \
      -o "lowerdir=$built,upperdir=$scratch/up/ts,workdir=$scratch/work/ts" "$testsuite"
  fi
  fresh_tmpfs /tmp 1777
  fresh_tmpfs /var/tmp 1777
  fresh_tmpfs /run/pcp 775 pcp:pcp
  # QA and PCP's scripts use systemctl when they find it and the units: in
  # here they use PCP's init scripts and the chkconfig stand-in instead.
  rm -f /usr/lib/systemd/system/pm*.service /usr/lib/systemd/system/pm*.timer
  mount --bind /dev/null /usr/bin/systemctl
  install_chkconfig

  printf 'pcpqa ALL=(ALL) NOPASSWD: ALL\nDefaults:pcpqa !requiretty\n' >/etc/sudoers.d/pcpqa
  chmod 0440 /etc/sudoers.d/pcpqa
  export PATH=$std_path
  # tracefs for bpftrace.
  if [ -d /sys/kernel/tracing ] && [ -z "$(ls -A /sys/kernel/tracing 2>/dev/null)" ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  fi

  if [ "$pass" = ours ]; then
    install_shims "$bin"
  fi

  # A private pmcd with the agents QA expects (sample, sampledso, simple)
  # and a primary pmlogger.
  /etc/init.d/pmcd start >"$logs/setup.log" 2>&1 || true
  for a in sample simple; do
    (cd /var/lib/pcp/pmdas/$a && ./Install </dev/null >>"$logs/setup.log" 2>&1) || true
  done
  /etc/init.d/pmlogger start >>"$logs/setup.log" 2>&1 || true
  # pmproxy on the namespace's own :44322, for the tests of its REST API.
  /etc/init.d/pmproxy start >>"$logs/setup.log" 2>&1 || true
}

ns_teardown() {
  /etc/init.d/pmproxy stop >/dev/null 2>&1 || true
  /etc/init.d/pmlogger stop >/dev/null 2>&1 || true
  /etc/init.d/pmcd stop >/dev/null 2>&1 || true
}

# Builds the testsuite's programs and archives once (they need a pmcd with
# the sample agent), and copies the built testsuite to $1.
inside_build() {
  local dest=$1
  built=
  mkdir -p "$dest.logs"
  ns_setup pcp none "$dest.logs"
  cd "$testsuite"
  sudo -u pcpqa -H env PATH="$std_path" make setup >"$dest.logs/make.log" 2>&1 || true
  ns_teardown
  mkdir -p "$dest"
  cp -a "$testsuite/." "$dest/"
}

# Runs ./check for the groups (or $PCP_QA_TESTS) and keeps the results.
inside() {
  local pass=$1 bin=$2 results=$3
  shift 3
  ns_setup "$pass" "$bin" "$results"
  local args=() g
  for g in "$@"; do args+=(-g "$g"); done
  # shellcheck disable=SC2206
  [ -n "${PCP_QA_TESTS:-}" ] && args=($PCP_QA_TESTS)
  cd "$testsuite"
  sudo -u pcpqa -H env PATH="$std_path" ./check "${args[@]}" \
    >"$results/check.out" 2>&1 || true
  for f in check.log *.out.bad *.full *.notrun; do
    [ -e "$f" ] && cp "$f" "$results/" 2>/dev/null || true
  done
  cp -r /var/log/pcp/pmcd "$results/pmcd-logs" 2>/dev/null || true
  ns_teardown
}

built=${PCP_QA_BUILT:-}
case "${1:-}" in
  --inside) shift; inside "$@"; exit 0 ;;
  --inside-build) shift; inside_build "$@"; exit 0 ;;
esac

# ---------------------------------------------------------------------------
# Outside: set-up, the two passes, the comparison.
# ---------------------------------------------------------------------------

passes="pcp ours"
tests=""
report_only=false
while [ $# -gt 0 ]; do
  case $1 in
    --pcp-only) passes=pcp ;;
    --ours-only) passes=ours ;;
    --tests) tests=$2; shift ;;
    --report) report_only=true ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    -*) log "unknown option $1"; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || [ -n "$tests" ] || { log "usage: $0 [--pcp-only|--ours-only] [--tests LIST] GROUP..."; exit 2; }
[ "$(id -u)" = 0 ] || { log "must run as root (it makes namespaces and mounts)"; exit 2; }

if ! $report_only; then
# The package, its user, and what its tests need.
need=()
for p in pcp pcp-testsuite python3-pcp python3-requests bpftrace sudo iproute2 bc make gcc \
         libpcp3-dev libpcp-pmda3-dev libpcp-trace2-dev libpcp-mmv1-dev libpcp-import1-dev \
         libpcp-archive1-dev libpcp-gui2-dev libpcp-web1-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  shim=$(mktemp -d)
  printf '#!/bin/sh\nexit 0\n' >"$shim/systemctl"
  chmod +x "$shim/systemctl"
  export DEBIAN_FRONTEND=noninteractive
  PATH="$shim:$PATH" apt-get update -q >/dev/null
  PATH="$shim:$PATH" apt-get install -y -q "${need[@]}" >"$out_root.apt.log" 2>&1 \
    || { log "apt-get install failed: see $out_root.apt.log"; exit 1; }
  rm -rf "$shim"
fi
id pcpqa >/dev/null 2>&1 || { log "user pcpqa missing after installing pcp-testsuite"; exit 1; }

bin=${PCP_AGENT_BIN:-}
if [ -z "$bin" ]; then
  log "building pcp-agent"
  (cd "$here" && cargo build -q --bin pcp-agent)
  bin=$here/target/debug/pcp-agent
fi
mkdir -p "$out_root"
# A copy, so that rebuilding during a run does not change the agents.
if [ -x "$bin" ]; then
  cp "$(readlink -f "$bin")" "$out_root/pcp-agent.new"
  mv "$out_root/pcp-agent.new" "$out_root/pcp-agent"
  bin=$out_root/pcp-agent
fi

# The testsuite's C programs and archives, built once per package version
# (about eight minutes on two cores) and reused by every later run.
cache=${PCP_QA_BUILD:-$here/target/pcp-qa-testsuite}
stamp="pcp-testsuite $(dpkg-query -W -f='${Version}' pcp-testsuite)"
if [ "$(cat "$cache.stamp" 2>/dev/null)" != "$stamp" ]; then
  log "building the testsuite once into $cache (takes several minutes)"
  rm -rf "$cache" "$cache.new" "$cache.new.logs"
  start=$(date +%s)
  unshare --mount --net --pid --fork --mount-proc --kill-child "$0" --inside-build "$cache.new" || true
  rmdir "$cache.new.logs/.ns" 2>/dev/null || true
  [ -x "$cache.new/src/store_and_fetch" ] \
    || { log "testsuite build failed: see $cache.new.logs/make.log"; exit 1; }
  rm -rf "$cache.logs"
  mv "$cache.new.logs" "$cache.logs"
  mv "$cache.new" "$cache"
  echo "$stamp" >"$cache.stamp"
  log "testsuite built in $(( $(date +%s) - start ))s"
fi

for pass in $passes; do
  results=$out_root/$pass
  rm -rf "$results"
  mkdir -p "$results"
  log "running with $pass agents: ${tests:-$*} (output in $results)"
  start=$(date +%s)
  PCP_QA_BUILT="$cache" PCP_QA_TESTS="$tests" \
    unshare --mount --net --pid --fork --mount-proc --kill-child \
    "$0" --inside "$pass" "$bin" "$results" "$@" || true
  rmdir "$results/.ns" 2>/dev/null || true
  log "$pass pass took $(( $(date +%s) - start ))s"
done

fi

# ---------------------------------------------------------------------------
# The comparison.
# ---------------------------------------------------------------------------

# The tests run: the list given, or the groups' members.
if [ -n "$tests" ]; then
  list=$tests
else
  list=$(for g in "$@"; do
    sed -e '/[0-9]:retired /d' -e '/[0-9]:reserved /d' -e 's/$/ /' "$testsuite/group" \
      | awk -v g="$g" '$1 ~ /^[0-9]+$/ { for (i = 2; i <= NF; i++) if ($i == g) print $1 }'
  done | sort -un)
fi

# status PASS TEST: pass, fail, notrun or missing (the pass did not run).
status() {
  local out=$out_root/$1/check.out t=$2
  [ -f "$out" ] || { echo missing; return; }
  if grep -q "^Not run:.* $t\b" "$out" || [ -f "$out_root/$1/$t.notrun" ]; then echo notrun
  elif grep -q "^Failures:.* $t\b" "$out"; then echo fail
  elif grep -qE "^(\[[0-9]+%\] )?$t( |$)" "$out"; then echo pass
  else echo missing; fi
}

# True when every difference of our output from the expected output is a
# changed line matching a listed difference of the test; prints the reasons.
listed_only() {
  local t=$1 bad=$out_root/ours/$t.out.bad used="" i line hunk matched
  [ -f "$bad" ] || return 1
  local d
  d=$(diff "$testsuite/$t.out" "$bad") && return 1
  # Only change hunks of equal size: "a,bcc,d" with b-a == d-c.
  while IFS= read -r hunk; do
    local l r
    l=${hunk%%c*} r=${hunk#*c}
    [ "$hunk" != "$l" ] || return 1
    [ $(( ${l#*,} - ${l%%,*} )) = $(( ${r#*,} - ${r%%,*} )) ] || return 1
  done < <(printf '%s\n' "$d" | grep -E '^[0-9]')
  while IFS= read -r line; do
    matched=false
    for i in "${!KNOWN_TESTS[@]}"; do
      [ "${KNOWN_TESTS[$i]}" = "$t" ] || continue
      if printf '%s\n' "$line" | grep -qE -- "${KNOWN_REGEXES[$i]}"; then
        matched=true
        case $used in *"${KNOWN_REASONS[$i]}"*) ;; *) used="$used${KNOWN_REASONS[$i]}"$'\n' ;; esac
        break
      fi
    done
    $matched || return 1
  done < <(printf '%s\n' "$d" | grep -E '^>' | cut -c3-)
  printf '%s' "$used" | sed -e "s/^/      $t: /"
  return 0
}

printf '\n%-6s %-8s %-8s\n' test pcp ours
n_pcp=0 n_ours=0 n_listed=0 n_total=0 missed=""
listed_report=""
for t in $list; do
  n_total=$((n_total + 1))
  p=$(status pcp "$t")
  o=$(status ours "$t")
  note=""
  if [ "$o" = fail ] && [ "$p" = pass ] && why=$(listed_only "$t"); then
    o="pass*"
    n_listed=$((n_listed + 1))
    listed_report="$listed_report$why"$'\n'
  fi
  [ "$p" = pass ] && n_pcp=$((n_pcp + 1))
  case $o in pass|pass\*) n_ours=$((n_ours + 1)) ;; esac
  if [ "$p" = pass ] && [ "$o" != pass ] && [ "$o" != "pass*" ]; then
    missed="$missed $t"
    note="<- passes with PCP's agents only"
  fi
  printf '%-6s %-8s %-8s %s\n' "$t" "$p" "$o" "$note"
done
echo
case " $passes " in *" pcp "*) echo "PCP's agents: $n_pcp of $n_total tests pass" ;; esac
case " $passes " in
  *" ours "*)
    echo "ours:         $n_ours of $n_total tests pass ($n_listed with listed differences only)"
    if [ -n "$listed_report" ]; then
      echo "listed differences (\`known\` in $0):"
      printf '%s' "$listed_report" | sed '/^$/d'
    fi ;;
esac
if [ "$passes" = "pcp ours" ]; then
  if [ -z "$missed" ]; then
    echo "ours passes every test PCP's agents pass"
  else
    echo "ours fails where PCP's agents pass:$missed (see $out_root/ours/*.out.bad)"
    exit 1
  fi
fi
