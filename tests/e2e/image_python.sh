#!/usr/bin/env bash
# image_python: the CPython fixture (fixtures/python_fn: Debian's libpython3.11.a linked static,
# handler.py as the function) gives the same answers as a native run of the same binary under
# `catload exec`, and through `catload capture` -> `catimg build` -> `catload run` (and `catload
# restore`) for several requests per image, every run booted from the same snapshot. The
# standard library is the host's /usr/lib/python3.11, mounted read-only; PYTHONHOME=/usr.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture python_fn
[[ -f $FIXTURES/handler.py ]] || e2e_setup_fail "$FIXTURES/handler.py is missing (build the python_fn_handler target)"
STDLIB=/usr/lib/python3.11
[[ -f $STDLIB/json/__init__.py ]] || e2e_setup_fail "$STDLIB is missing (apt-get install libpython3.11-stdlib)"
e2e_tmpdir

PY=(--env PYTHONHOME=/usr --mount "$STDLIB:$STDLIB:ro" --mount "$FIXTURES:/fn:ro")
# -s: no user site directory (the guest has no home); the same flags natively.
FN=("$FIXTURES/python_fn" -s /fn/handler.py)

LOOKUPS=$(printf '%s\n' '{"get": "cyrama0"}' '{"get": "gbqjeaa199999"}' '{"get": "nosuchword"}' \
  '{"stats": true}')
BUCKETS=$(printf '%s\n' '{"bucket": 0}' '{"bucket": 96}' '{"bucket": 500}' '{"prefix": "ab"}' \
  '{"prefix": "cyr"}' '{"prefix": ""}')
OTHER=$(printf '%s\n' '{"date": 9000}' '{"date": -1}' \
  '{"words": "The cat saw the dog; the dog ran. A cat!"}')
ERRORS=$(printf '%s\n' 'not json' '{"get": 1}' '{"stats": true}')
EXIT=$(printf '%s\n' '{"get": "cyrama0"}' '{"exit": 7}' '{"stats": true}')

# --- catload exec: a cold start of the interpreter, imports and index build in the sandbox ---
e2e_compare python-exec-lookups "${PY[@]}" --rc 0 --input "$LOOKUPS" -- "${FN[@]}"
e2e_compare python-exec-errors "${PY[@]}" --rc 1 --input "$ERRORS" -- "${FN[@]}"

# --- an image captured at the first read of stdin (after the init) ---
if e2e_image python_fn "${PY[@]}" -- "${FN[@]}" && e2e_image_verify python_fn; then
  e2e_image_compare python_fn lookups --rc 0 --input "$LOOKUPS"
  e2e_image_compare python_fn buckets --rc 0 --input "$BUCKETS"
  e2e_image_compare python_fn other --rc 0 --input "$OTHER"
  e2e_image_compare python_fn errors --rc 1 --input "$ERRORS"
  e2e_image_compare python_fn exit-code --rc 7 --input "$EXIT"
  e2e_image_compare python_fn no-requests --rc 0
  e2e_image_compare python_fn restore --restore --rc 0 --input "$LOOKUPS"
fi

e2e_finish
