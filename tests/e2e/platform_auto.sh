#!/usr/bin/env bash
# e2e.platform_auto: `--platform auto` given to every subcommand that runs guests (spec/kvm.md,
# "Choosing") works, and says why in exactly one stderr line when it falls back to ptrace
# although a /dev/kvm exists (kvm_pvm, a failing self-test); with no /dev/kvm, or a KVM that
# passes the self-test, it says nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"

if [[ ! -e /dev/kvm ]]; then
  want=0 why="no /dev/kvm: ptrace, silently"
elif "$CATLOAD" exec --platform kvm -- "$FIXTURES/hello" </dev/null >/dev/null 2>&1; then
  want=0 why="this KVM passes the self-test: kvm, silently"
else
  want=1 why="a /dev/kvm that cannot run the platform: ptrace and one line"
fi
echo "expecting $want platform line(s) per command ($why)"
note='^(catload|catimg): [a-z]+: platform auto: ptrace, not kvm: .+'

# judge NAME RC ERRFILE: the command worked, and its stderr holds only the expected note.
judge() {
  local name=$1 rc=$2 err=$3 notes others
  notes=$(grep -cE "$note" "$err")
  others=$(grep -cvE "$note" "$err")
  if [[ $rc == 0 && $notes == "$want" && $others == 0 ]]; then
    e2e_pass "$name: exit 0, $notes platform line(s)$( ((notes)) && echo ": $(head -c 160 "$err")")"
  else
    e2e_fail "$name: exit $rc, $notes platform line(s) (want $want), $others other stderr line(s)"
    e2e_show "$name stderr" "$err" 10
  fi
}

hello=$FIXTURES/hello
printf 'hi\n' >"$T/req"
"$CATLOAD" exec --platform auto -- "$hello" <"$T/req" >/dev/null 2>"$T/exec.err"
judge "catload exec" $? "$T/exec.err"
"$CATLOAD" capture --platform auto -o "$T/hello.core" -- "$hello" </dev/null >/dev/null 2>"$T/capture.err"
judge "catload capture" $? "$T/capture.err"
"$CATIMG" build -q "$T/hello.core" -o "$T/hello.cfi" >/dev/null 2>&1 ||
  e2e_setup_fail "catimg build of the captured hello failed"
"$CATLOAD" restore --platform auto "$T/hello.core" <"$T/req" >/dev/null 2>"$T/restore.err"
judge "catload restore" $? "$T/restore.err"
"$CATLOAD" run --platform auto "$T/hello.cfi" <"$T/req" >/dev/null 2>"$T/run.err"
judge "catload run" $? "$T/run.err"
"$CATLOAD" run --platform auto --boot fork "$T/hello.cfi" <"$T/req" >/dev/null 2>"$T/fork.err"
judge "catload run --boot fork" $? "$T/fork.err"
"$CATIMG" build --platform auto -q -o "$T/one.cfi" -- "$hello" </dev/null >/dev/null 2>"$T/build.err"
judge "catimg build (one step)" $? "$T/build.err"

# serve: the note once in the server's log, beside its own lines.
start_server serve --platform auto "$T/hello.cfi"
notes=$(grep -cE "$note" "$T/serve.log")
e2e_check "catload serve: $notes platform line(s) in its log (want $want)" test "$notes" = "$want"
kill -TERM "$SERVER_PID" 2>/dev/null
for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
kill -KILL "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
e2e_finish
