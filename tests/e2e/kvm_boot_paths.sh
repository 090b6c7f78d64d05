#!/usr/bin/env bash
# e2e.kvm_boot_paths: every boot path on the kvm platform (spec/kvm.md) gives the ptrace
# platform's output, kept cheap enough for the QEMU harness (tests/kvm/tests.txt):
#  * capture -> catimg build -> cold boot for hello, counter_fn (state in the overlay) and
#    lua_fn (an interpreter with a mount), captured on ptrace and booted on both platforms,
#    and hello captured on kvm and booted on ptrace (an image does not know its platform);
#  * `catload run --boot warm|fork --repeat 2` on kvm (the zygote pool, fork boot: a template
#    VM's memory frozen into a memfd, each instance a pre-created VM from the platform's pool
#    mapping it MAP_PRIVATE: --stats says vm_pooled 1 and run_minflt > 0 for every fork);
#  * `catload serve --platform kvm` answering cold, warm and fork requests through
#    `catload invoke`, each counter_fn instance starting from the snapshot ("count 1").
# Skips where this host's KVM does not pass the self-test; the QEMU harness runs it with
# CATALYZER_REQUIRE_KVM set, where it cannot skip.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
for f in hello counter_fn lua_fn; do e2e_require_fixture "$f"; done
e2e_tmpdir
T=$E2E_TMP

source "$(dirname "${BASH_SOURCE[0]}")/lib/kvm_compare.sh"

# --- capture -> build -> cold boot ---
if image hello ptrace -- "$FIXTURES/hello"; then
  same hello cold world -- run "$T/hello.cfi"
  same hello warm world -- run --boot warm --repeat 2 "$T/hello.cfi"
  same hello fork world -- run --boot fork --repeat 2 "$T/hello.cfi"
fi
if image hello_kvm kvm -- "$FIXTURES/hello"; then
  same hello_kvm cold "captured on kvm" -- run "$T/hello_kvm.cfi"
fi
if image counter ptrace -- "$FIXTURES/counter_fn"; then
  same counter cold $'a\nb' -- run "$T/counter.cfi"
  same counter fork $'a\nb' -- run --boot fork --repeat 3 "$T/counter.cfi"
  e2e_check "counter: every forked kvm instance starts from the snapshot (count 1, 2; three times)" \
    test "$(tr '\n' ' ' <"$T/counter.fork.kvm.out")" = "count 1 count 2 count 1 count 2 count 1 count 2 "
  # Each fork's VM came ready from the pool of pre-created VMs (spec/kvm.md, "Zygote VMs and
  # fork boot"): catload run --repeat waits for the pool between instances, as a server idles.
  printf 'a\n' | timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" run --platform kvm --stats=json \
    --boot fork --repeat 3 "$T/counter.cfi" >"$T/counter.pool.out" 2>"$T/counter.pool.err"
  if [[ $(grep -c '"vm_pooled":1' "$T/counter.pool.err") == 3 ]]; then
    e2e_pass "counter: three kvm forks, each into a VM taken ready from the pool (vm_pooled 1)"
  else
    e2e_fail counter.pool "not every fork's --stats says vm_pooled 1"
    e2e_show "kvm stderr" "$T/counter.pool.err" 10
  fi
  # The copy-on-write tax shows on kvm too: the run's page faults (the controlling thread's).
  if [[ $(grep -c '"run_minflt":[1-9]' "$T/counter.pool.err") == 3 ]]; then
    e2e_pass "counter: each kvm fork's --stats counts its run's page faults (run_minflt > 0)"
  else
    e2e_fail counter.minflt "not every fork's --stats has run_minflt > 0"
    e2e_show "kvm stderr" "$T/counter.pool.err" 10
  fi
fi
if image lua ptrace --mount "$FIXTURES:/fn:ro" -- "$FIXTURES/lua_fn" /fn/function.lua; then
  same lua cold $'prime 1999993\nnth 1000\nword abc' -- run "--mount=$FIXTURES:/fn:ro" "$T/lua.cfi"
  same lua fork $'prime 7\nnth 10' -- run "--mount=$FIXTURES:/fn:ro" --boot fork --repeat 2 "$T/lua.cfi"
fi

# --- catload serve --platform kvm: cold, warm and fork requests ---
if [[ -s $T/counter.cfi ]]; then
  mkdir -p "$T/images"
  cp "$T/counter.cfi" "$T/images/counter.cfi"
  "$CATLOAD" serve --platform kvm --listen 127.0.0.1:0 \
    --max-instances 1 "$T/images" 2>"$T/serve.log" &
  server=$!
  url=""
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$T/serve.log" | sed 's/listening on //')
    [[ -n $url ]] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $url ]]; then
    e2e_fail serve.start "catload serve --platform kvm did not listen"
    e2e_show "serve log" "$T/serve.log" 20
  else
    for mode in cold warm fork fork warm; do
      printf 'x\ny\n' | timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" invoke --boot "$mode" "$url" counter \
        >"$T/invoke.$mode.out" 2>"$T/invoke.$mode.err"
      rc=$?
      if [[ $rc == 0 && $(tr '\n' ' ' <"$T/invoke.$mode.out") == "count 1 count 2 " ]]; then
        e2e_pass "serve --platform kvm: a $mode request answers as catload run (count 1, 2)"
      else
        e2e_fail "serve.$mode" "catload invoke --boot $mode exited $rc: $(head -c 200 "$T/invoke.$mode.out") $(head -c 300 "$T/invoke.$mode.err")"
      fi
    done
  fi
  kill -TERM "$server" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null
  wait "$server" 2>/dev/null
fi

e2e_finish
