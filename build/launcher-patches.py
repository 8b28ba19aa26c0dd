"""Patches the code that runs before hookrun does: PyInstaller's bootloader and bootstrap, and
staticx's launcher (build/build.sh runs this on each unpacked sdist before building it).

Both bootloaders copy the bundle out of the executable at every start, and both copied it
through user space:
- pyinstaller: the one-file bundle (17 MB, stored: build/hookrun.spec) went 8 KiB at a time,
  about 6,000 read and write calls. On Linux it is now copied with sendfile inside the kernel;
  whatever sendfile does not copy is copied by the stock loop. Measured (bench/startup.py,
  no-op hook CPU time): one-file 61 -> 50 ms.
- staticx: each file of the archive was copied from the mapped executable into a buffer as
  large as the file, then written: fresh pages faulted in, filled and freed at every start. An
  uncompressed archive (build/staticx-tree.py builds one) is now written straight from the
  mapping; the xz path is unchanged. Peak RSS of the static build 43 -> 23 MB.
Both launchers also ask the kernel, in the forked child before it execs hookrun, for a SIGTERM
when the launcher dies (PR_SET_PDEATHSIG, kept across exec): hookrun did it itself with ctypes,
2.2 ms of CPU at every start of the one-file and static builds.
And one for all three builds:
- pyinstaller's bootstrap imported ctypes at every start, to make ctypes.CDLL look for a
  library in the bundle first: 2.9 ms of CPU (python3 -S, import ctypes against pass). hookrun
  loads no library by name with ctypes (only CDLL(None): the C library already loaded), so the
  hook is not installed; tests/unit/test_packaging.py fails if that changes.

Exact text replacement: a release that changed a patched function stops the build here instead
of building something untested.
Usage: python3 build/launcher-patches.py pyinstaller|staticx SDIST_DIR
"""

import sys
from pathlib import Path

MARK = "hookrun: "

# In a forked child before it execs hookrun: a SIGKILLed launcher cannot forward signals or clean
# up, so the kernel sends the child SIGTERM when the launcher dies (kept across exec); a launcher
# already gone by then gets the same at once.
PDEATHSIG = ("        /* " + MARK + "SIGTERM when the launcher dies (one already gone: at once) */\n"
             "        if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != launcher_pid) {\n"
             "            kill(getpid(), SIGTERM);\n"
             "        }\n")

PYINSTALLER = {
    "bootloader/src/pyi_archive.c": [
        ('#include <sys/stat.h>  /* fchmod */\n',
         '#include <sys/stat.h>  /* fchmod */\n'
         '#if defined(__linux__)\n'
         '    #include <sys/sendfile.h>  /* sendfile */\n'
         '#endif\n'),
        ('    /* Copy data, chunk by chunk */\n'
         '    remaining_size = toc_entry->uncompressed_length;\n'
         '    while (remaining_size > 0) {\n'
         '        size_t chunk_size = (CHUNK_SIZE < remaining_size) ? CHUNK_SIZE : (size_t)remaining_size;\n'
         '        if (fread(buffer, chunk_size, 1, archive_fp) < 1) {\n',
         '    remaining_size = toc_entry->uncompressed_length;\n'
         '#if defined(__linux__)\n'
         '    /* ' + MARK + 'copy inside the kernel (sendfile), not 8 KiB at a time through user space;\n'
         '     * whatever it cannot copy is copied by the loop below. */\n'
         '    if (fflush(out_fp) == 0) {\n'
         '        off_t in_offset = ftello(archive_fp);\n'
         '        while (in_offset >= 0 && remaining_size > 0) {\n'
         '            size_t count = remaining_size > (1 << 30) ? (size_t)(1 << 30)'
         ' : (size_t)remaining_size;\n'
         '            ssize_t copied = sendfile(fileno(out_fp), fileno(archive_fp), &in_offset, count);\n'
         '            if (copied <= 0) {\n'
         '                break;\n'
         '            }\n'
         '            remaining_size -= (uint64_t)copied;\n'
         '        }\n'
         '        if (in_offset >= 0 && fseeko(archive_fp, in_offset, SEEK_SET) != 0) {\n'
         '            return -1;\n'
         '        }\n'
         '    }\n'
         '#endif\n'
         '    /* Copy data, chunk by chunk */\n'
         '    while (remaining_size > 0) {\n'
         '        size_t chunk_size = (CHUNK_SIZE < remaining_size) ? CHUNK_SIZE : (size_t)remaining_size;\n'
         '        if (fread(buffer, chunk_size, 1, archive_fp) < 1) {\n'),
    ],
    # the child (hookrun) gets SIGTERM when the one-file bootloader dies
    "bootloader/src/pyi_utils_posix.c": [
        ('#include <signal.h> /* kill */\n',
         '#include <signal.h> /* kill */\n'
         '#if defined(__linux__)\n'
         '    #include <sys/prctl.h>  /* prctl */\n'
         '#endif\n'),
        ('    pid_t child_pid = 0;\n',
         '    pid_t child_pid = 0;\n'
         '#if defined(__linux__)\n'
         '    pid_t launcher_pid = getpid();\n'
         '#endif\n'),
        ('    /* Child code. */\n'
         '    if (child_pid == 0) {\n',
         '    /* Child code. */\n'
         '    if (child_pid == 0) {\n'
         '#if defined(__linux__)\n' + PDEATHSIG + '#endif\n'),
    ],
    "PyInstaller/loader/pyiboot01_bootstrap.py": [
        ('    # Install the hooks for ctypes\n'
         '    import pyimod03_ctypes  # noqa: E402\n'
         '    pyimod03_ctypes.install()\n',
         '    # ' + MARK + 'no ctypes hooks: importing ctypes at every start costs 3 ms of CPU, and\n'
         '    # hookrun loads no library by name with ctypes (build/launcher-patches.py)\n'),
    ],
}

STATICX = {
    # an optional "write this member to fd" function next to readfunc
    "libtar/libtar.h": [
        ('typedef ssize_t (*readfunc_t)(void *context, void *buf, size_t len);\n',
         'typedef ssize_t (*readfunc_t)(void *context, void *buf, size_t len);\n'
         '/* ' + MARK + 'writes len bytes of the archive to fd and moves on by skip bytes;\n'
         ' * NULL: members are read into a buffer with readfunc, then written */\n'
         'typedef ssize_t (*writefunc_t)(void *context, int fd, size_t len, size_t skip);\n'),
        ('\treadfunc_t readfunc;\n}\ntartype_t;\n',
         '\treadfunc_t readfunc;\n\twritefunc_t writefunc;\n}\ntartype_t;\n'),
    ],
    "libtar/extract.c": [
        ('\tto_read = align_up(size, T_BLOCKSIZE);\n\n',
         '\tto_read = align_up(size, T_BLOCKSIZE);\n\n'
         '\t/* ' + MARK + 'without a buffer when the archive can write its members itself */\n'
         '\tif (t->type->writefunc) {\n'
         '\t\tif (t->type->writefunc(t->context, fdout, size, to_read) != (ssize_t)size) {\n'
         '\t\t\terrno = EINVAL;\n'
         '\t\t\tgoto out;\n'
         '\t\t}\n'
         '\t\tretval = 0;\n'
         '\t\tgoto out;\n'
         '\t}\n\n'),
    ],
    # the child (hookrun) gets SIGTERM when the staticx launcher dies
    "bootloader/main.c": [
        ('#include <sys/wait.h>\n',
         '#include <sys/wait.h>\n#include <signal.h>\n#include <sys/prctl.h>\n'),
        ('    /* Create new process */\n'
         '    child_pid = fork();\n',
         '    /* Create new process */\n'
         '    pid_t launcher_pid = getpid();\n'
         '    child_pid = fork();\n'),
        ('        /*** Child ***/\n',
         '        /*** Child ***/\n' + PDEATHSIG),
    ],
    "bootloader/extract.c": [
        ('#include <string.h>\n',
         '#include <string.h>\n#include <unistd.h>\n'),
        ('static ssize_t mem_read(void *context, void *buf, size_t len);\n',
         'static ssize_t mem_read(void *context, void *buf, size_t len);\n'
         'static ssize_t mem_write(void *context, int fd, size_t len, size_t skip);\n'),
        ('        typ->readfunc = xz ? xz_read : mem_read;\n',
         '        typ->readfunc = xz ? xz_read : mem_read;\n'
         '        typ->writefunc = xz ? NULL : mem_write;\n'),
        ('/*******************************************************************************/\n\n'
         'struct archive\n',
         '/* ' + MARK + 'a member of an uncompressed archive is written from the mapping itself */\n'
         'static ssize_t mem_write(void *context, int fd, size_t len, size_t skip)\n'
         '{\n'
         '    struct exctx *ctx = context;\n'
         '    struct xz_buf *b = &ctx->buf;\n'
         '    const uint8_t *source = b->in + b->in_pos;\n'
         '    size_t done = 0;\n'
         '\n'
         '    if (len > skip || skip > b->in_size - b->in_pos)\n'
         '        return -1;\n'
         '    while (done < len) {\n'
         '        ssize_t n = write(fd, source + done, len - done);\n'
         '        if (n < 0 && errno == EINTR)\n'
         '            continue;\n'
         '        if (n <= 0)\n'
         '            return -1;\n'
         '        done += (size_t)n;\n'
         '    }\n'
         '    b->in_pos += skip;\n'
         '    return (ssize_t)done;\n'
         '}\n\n'
         '/*******************************************************************************/\n\n'
         'struct archive\n'),
    ],
}

PATCHES = {"pyinstaller": PYINSTALLER, "staticx": STATICX}


def patch(tree: Path, files: dict[str, list[tuple[str, str]]]) -> str | None:
    """Applies every edit, or none; returns what is wrong, or None."""
    texts = {}
    for name, edits in files.items():
        text = (tree / name).read_text()
        if MARK in text:
            return None  # patched before
        for old, new in edits:
            if text.count(old) != 1:
                return (f"{tree / name}: the text to patch is not there once; "
                        "this release needs the patch redone")
            text = text.replace(old, new)
        texts[name] = text
    for name, text in texts.items():
        (tree / name).write_text(text)
    return None


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in PATCHES:
        print("usage: launcher-patches.py pyinstaller|staticx SDIST_DIR", file=sys.stderr)
        return 2
    problem = patch(Path(sys.argv[2]), PATCHES[sys.argv[1]])
    if problem:
        print(f"launcher-patches: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
