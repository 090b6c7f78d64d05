#!/usr/bin/env bash
# ptrace_smoke.sh: an inner test of the QEMU harness (tests/kvm/tests.txt). A few fixtures under
# `catload exec` (ptrace platform) give the same stdout and exit code as natively, inside the
# VM: proof that the initramfs carries what catload and the e2e helpers need and that the
# guest kernel runs the ptrace platform, so a kvm-platform failure in the same VM is the kvm
# platform's. Cheap cases only (lua_fn's init alone takes seconds under TCG); the full set is
# e2e.exec_fixtures on the host (it took 102 s in the VM, 23 s natively, here).
source "$SOURCE_DIR/tests/e2e/lib/common.sh"

e2e_require_catload
for f in hello hello_pie musl_hello lua_fn; do e2e_require_fixture "$f"; done
e2e_tmpdir

e2e_compare hello.world --rc 0 --input "world" -- "$FIXTURES/hello"
e2e_compare hello_pie.multiline --rc 0 --input $'first\nsecond' -- "$FIXTURES/hello_pie"
e2e_compare musl_hello.env --rc 0 --env GREETING=bonjour --input "zyx cba 123" -- "$FIXTURES/musl_hello"
e2e_compare lua_fn.missing-script --rc 1 --root "$FIXTURES" -- "$FIXTURES/lua_fn" /no/such.lua

e2e_finish
