#!/usr/bin/env python3
"""oci_craft.py OUT CASE: writes an OCI image layout at OUT (tag "t") whose one layer is a
hostile or broken tar, for tests/e2e/oci_pack.sh. Digests are consistent (except where the case
is about them), so only catimg unpack's own checks can refuse it. Cases:
  dotdot      an entry '../escape'
  absolute    an entry '/abs-escape'
  through     a symlink 'l' -> '..' then an entry 'l/escape' written through it
  hardlink    a hard link 'h' to '../../outside'
  device      a character device 'null'
  bad-diffid  a harmless layer whose diff_id in the config is wrong
  bad-zstd    a zstd layer whose frame is garbage after its magic (digest right)
  bad-gzip    a gzip layer damaged in the middle (digest right)
  ok          a harmless layer (the control: it must unpack)
  bomb        a gzip layer of ~40 KB holding a 40 MiB file of zeros (a decompression bomb,
              refused under catimg unpack --max-unpacked-size; it unpacks with the default)
  padding     a gzip layer of a small tar followed by 40 MiB of zeros after its end (what a
              tar reader skips, but hashing the diff_id reads it: the stream bound, not the
              files', refuses it under --max-unpacked-size)
  declared    a tar whose one file's header declares 1 TiB (no data follows): refused at the
              default limit from the header, before anything is written
  entries     2000 empty files (refused under --max-entries 1000)
  longname    a file whose name is 5000 bytes
"""
import hashlib
import io
import json
import os
import sys
import tarfile
import zlib


def entry(tar, name, kind=tarfile.REGTYPE, data=b"", link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    info.mtime = 0
    info.linkname = link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def layer(case):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entry(tar, "fine", data=b"fine\n")
        if case == "dotdot":
            entry(tar, "../escape", data=b"escaped\n")
        elif case == "absolute":
            entry(tar, "/abs-escape", data=b"escaped\n")
        elif case == "through":
            entry(tar, "l", tarfile.SYMTYPE, link="..")
            entry(tar, "l/escape", data=b"escaped\n")
        elif case == "hardlink":
            entry(tar, "h", tarfile.LNKTYPE, link="../../outside")
        elif case == "device":
            entry(tar, "null", tarfile.CHRTYPE)
        elif case == "bomb":
            entry(tar, "zeros", data=bytes(40 << 20))
        elif case == "entries":
            for i in range(2000):
                entry(tar, "e%d" % i)
        elif case == "longname":
            entry(tar, "n" * 5000, data=b"x")
    if case == "padding":
        return buf.getvalue() + bytes(40 << 20)
    if case == "declared":
        info = tarfile.TarInfo("huge")
        info.size = 1 << 40
        return info.tobuf(tarfile.PAX_FORMAT)  # the header alone: no data, no end blocks
    return buf.getvalue()


def blob(out, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest[7:]), "wb") as f:
        f.write(data)
    return digest


def main():
    out, case = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    tar = layer(case)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    if case == "bad-diffid":
        diff_id = "sha256:" + hashlib.sha256(tar + b"x").hexdigest()
    media = "application/vnd.oci.image.layer.v1.tar"
    stored = tar
    if case == "bad-zstd":
        media += "+zstd"
        stored = b"\x28\xb5\x2f\xfd" + bytes((i * 37 + 11) % 256 for i in range(4000))
    elif case in ("bomb", "padding"):
        media += "+gzip"
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        stored = z.compress(tar) + z.flush()
    elif case == "bad-gzip":
        media += "+gzip"
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        stored = bytearray(z.compress(tar * 20) + z.flush())
        for i in range(len(stored) // 3, len(stored) // 3 + 16):
            stored[i] ^= 0x5A
        stored = bytes(stored)
    layer_digest = blob(out, stored)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_digest = blob(out, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": media, "digest": layer_digest, "size": len(stored)}],
    }).encode()
    manifest_digest = blob(out, manifest)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "t"}}]}, f)


main()
