# Deliberate breaks of the state verifier's checks (issue 7): each check disabled alone, the
# unit test named beside it must fail. Run it in a scratch copy of the tree with a configured
# build directory: it edits one file at a time, rebuilds unit_tests, runs the test, and puts
# the file back. Usage: state_verifier_breaks.py TREE [BREAK-NUMBER...]
import subprocess, sys
W = sys.argv[1]
A='format/state/arena_verifier.cc'; V='format/state/state_verifier.h'; I='format/state/state_invariants.cc'; S='format/state/state_stream.cc'
breaks = [
 (A, 'if (value < kArenaPreferredBase || off >= size_) [[unlikely]]', 'if (false) [[unlikely]]', 'StateVerifierTest.PointerOutsideTheArenaIsRefused'),
 (A, '    if (off > cursor_ || !IsShared(type) ||\n        ((cells_.get()[off / kGranule] & kTypeMask) >> kTypeShift) != static_cast<uint32_t>(type))', '    if (off > cursor_ || !IsShared(type))', 'StateVerifierTest.PointerIntoTheMiddleOfASharedBlockIsRefused'),
 (A, '    if (off > cursor_ || !IsShared(type) ||\n        ((cells_.get()[off / kGranule] & kTypeMask) >> kTypeShift) != static_cast<uint32_t>(type))', '    if (off > cursor_)', 'StateVerifierTest.PointerToAnEarlierUnsharedBlockIsRefused'),
 (V, 'if (p.size > max)\n', 'if (false)\n', 'StateVerifierTest.HugeStringLengthIsRefused'),
 (V, "if (c[p.size] != '\\0')", 'if (false)', 'StateVerifierTest.StringWithoutItsTerminatorIsRefused'),
 (V, 'if (a.size > a.capacity)', 'if (false)', 'StateVerifierTest.ArraySizeAboveCapacityIsRefused'),
 (V, 'if (a.capacity != a.size)', 'if (false)', 'StateVerifierTest.ArrayCapacityAboveSizeIsRefused'),
 (A, 'if (!(cell & bit)) [[unlikely]]', 'if (false) [[unlikely]]', 'StateVerifierTest.MissingRelocationEntryIsRefused'),
 (A, 'if (slots == count_) return {};', 'return {};', 'StateVerifierTest.ExtraRelocationEntryOnDataIsRefused:StateVerifierTest.ExtraRelocationEntryOnANullSlotIsRefused'),
 (A, 'if (i > 0 && at <= relocs[i - 1]) [[unlikely]]', 'if (false) [[unlikely]]', 'StateVerifierTest.DuplicatedRelocationEntryIsRefused'),
 (A, 'if (at % 8 != 0) [[unlikely]]', 'if (false) [[unlikely]]', 'StateVerifierTest.MisalignedRelocationEntryIsRefused'),
 (V, 'if (file.refs != sp_.Refs(f.id, 0))', 'if (false)', 'StateVerifierTest.OpenFileRefsMismatchIsRefused:StateStreamVerifierTest.OpenFileRefsMismatchIsRefused'),
 (V, 'if (inode.refs != sp_.Refs(t.id, 0))', 'if (false)', 'StateVerifierTest.InodeRefsMismatchIsRefused'),
 (V, 'if (pipe.readers != sp_.Refs(p.id, 0) || pipe.writers != sp_.Refs(p.id, 1))', 'if (false)', 'StateVerifierTest.PipeWritersMismatchIsRefused'),
 (I, 'if (p.head > p.buffer.size)', 'if (false)', 'StateVerifierTest.PipeHeadBeyondItsBufferIsRefused'),
 (I, '  return Bad("kind " + N(static_cast<uint32_t>(f.kind)) + " is not a FileKind");', '  return {};', 'StateVerifierTest.BadFileKindIsRefused'),
 (I, 'if (f.mount_index >= mount_count)', 'if (false)', 'StateVerifierTest.MountIndexOutOfRangeIsRefused'),
 (I, 'if (static_cast<uint32_t>(f.channel) >= kNumStdioChannels)', 'if (false)', 'StateVerifierTest.StdioChannelOutOfRangeIsRefused'),
 (I, 'if (access >= kNumMountAccess)', 'if (false)', 'StateVerifierTest.MountAccessOutOfRangeIsRefused'),
 (I, 'if (i > 0 && v.start < prev_end)', 'if (i > 0 && v.start < prev_end && false)', 'StateVerifierTest.OverlappingVmasAreRefused'),
 (I, 'if (v.start < kTrampolineBase + kTrampolineSize && v.end > kTrampolineBase)', 'if (false)', 'StateVerifierTest.VmaOverTheTrampolineIsRefused'),
 (V, 'if (uint64_t{live} * 2 > n)', 'if (false)', 'StateVerifierTest.OverlayTableWithoutAnEmptySlotIsRefused'),
 (V, 'if (live != o.count)', 'if (false)', 'StateVerifierTest.OverlayCountMismatchIsRefused'),
 (V, 'if (((home - cluster) & mask) <= ((i - cluster) & mask)) [[likely]]', 'if (((home - cluster) & mask) <= ((i - cluster) & mask) || true) [[likely]]', 'StateVerifierTest.OverlayEntryAwayFromItsHashSlotIsRefused'),
 (V, 'if (!IsCanonicalGuestPath(cwd)) return', 'if (false) return', 'StateVerifierTest.NonCanonicalCwdIsRefused'),
 (A, 'if (cursor_ != size_)', 'if (false)', 'StateVerifierTest.TrailingBytesAreRefused'),
 (S, '    if (to != kNullTarget && to >= count) return Fail(EBADMSG, which + " names a missing block");', '', 'StateStreamVerifierTest.BadBlockIndexInAFixupIsRefused'),
 (S, '    if (parent >= count) return Fail(EBADMSG, which + " names a missing block");', '', 'StateStreamVerifierTest.BadParentBlockInAFixupIsRefused'),
 (S, 'if (t == kUnset || t == kNullSlot)', 'if (false)', 'StateStreamVerifierTest.PointerSlotNoFixupSetsIsRefused'),
 (S, 'if (count > in.left() / 8 || count >= kFollowed)', 'if (false)', 'StateStreamVerifierTest.BlockCountBeyondTheStreamIsRefused'),
]
only = sys.argv[2:]
for n,(f, old, new, test) in enumerate(breaks):
    if only and str(n) not in only: continue
    path = W + '/' + f
    orig = open(path).read()
    if orig.count(old) != 1:
        print(f'BREAK {n}: pattern not unique/found in {f}: {old[:60]}'); continue
    open(path,'w').write(orig.replace(old,new))
    try:
        b = subprocess.run(f'cd {W} && cmake --build build --target unit_tests -j2 2>&1 | grep -E " error" | head -3', shell=True, capture_output=True, text=True)
        if b.stdout.strip():
            print(f'BREAK {n}: build error: {b.stdout.strip()[:200]}'); continue
        r = subprocess.run(f'{W}/build/bin/unit_tests --gtest_filter="{test}"', shell=True, capture_output=True, text=True, timeout=300)
        verdict = 'caught (test fails)' if r.returncode != 0 else 'NOT CAUGHT'
        print(f'BREAK {n}: {f}: `{old.strip()[:70]}` -> {test}: {verdict}', flush=True)
    finally:
        open(path,'w').write(orig)
