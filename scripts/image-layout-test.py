#!/usr/bin/env python3
"""Checks that the two ways of building the data-processor image give the same runtime.

data-processor/Dockerfile (the full build in Docker) and data-processor/prebuilt.Dockerfile
(the host-built binary) must end in the same runtime stage: the same files at the same
paths, user, entrypoint, command, environment and labels; only where a COPY takes its file
from may differ. With --image, also checks a built image against that declared runtime:
its config (user, entrypoint, command, environment, labels) and its files, exactly (no
shell, nothing else), the binary executable by the runtime user.

Usage: scripts/image-layout-test.py [--image NAME]
"""

import argparse
import io
import json
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = [ROOT / "data-processor" / "Dockerfile", ROOT / "data-processor" / "prebuilt.Dockerfile"]


class LayoutError(Exception):
    """A difference between the declared runtime and what was found."""


def instructions(text):
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    result, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # comment lines inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        result.append((keyword.upper(), " ".join(args.split())))
        current = ""
    return result


def runtime_stage(path):
    """The instructions of the final stage, which must be `FROM scratch AS runtime`."""
    stages, stage = [], None
    for keyword, args in instructions(path.read_text()):
        if keyword == "FROM":
            stage = {"from": args, "steps": []}
            stages.append(stage)
        elif stage is not None:
            stage["steps"].append((keyword, args))
    if not stages:
        raise LayoutError(f"{path.name}: no FROM")
    final = stages[-1]
    if final["from"].split() != ["scratch", "AS", "runtime"]:
        raise LayoutError(f"{path.name}: the final stage is 'FROM {final['from']}', expected 'FROM scratch AS runtime'")
    return final["steps"]


def normalized(steps):
    """The steps with each COPY reduced to its destination (its source is allowed to differ)."""
    out = []
    for keyword, args in steps:
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(args) if not w.startswith("--from=")]
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            out.append((keyword, " ".join(flags + [paths[-1]])))
        else:
            out.append((keyword, args))
    return out


def declared_runtime(steps):
    """What an image built from the runtime steps must show."""
    files, env, labels = {}, {}, {}
    user = entrypoint = cmd = None
    for keyword, args in steps:
        if keyword == "COPY":
            files[shlex.split(args)[-1].lstrip("/")] = True
        elif keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
        elif keyword == "LABEL":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                labels[key] = value
        elif keyword == "USER":
            user = args
        elif keyword == "ENTRYPOINT":
            entrypoint = json.loads(args)
        elif keyword == "CMD":
            cmd = json.loads(args)
        else:
            raise LayoutError(f"runtime stage: unexpected {keyword} (this check knows COPY, ENV, LABEL, USER, ENTRYPOINT, CMD)")
    return {"files": sorted(files), "env": env, "labels": labels, "user": user, "entrypoint": entrypoint, "cmd": cmd}


def docker(*args, binary=False):
    result = subprocess.run(["docker", *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise LayoutError(f"docker {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout if binary else result.stdout.decode()


def image_files(image):
    """Regular files and links in the image's filesystem, as {path: TarInfo}."""
    container = docker("create", image).strip()
    try:
        archive = docker("export", container, binary=True)
    finally:
        docker("rm", container)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers() if not m.isdir()}


# Both Docker builders give an image without a PATH of its own this default one.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def check_image(image, want):
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image))
    got_env = dict(e.split("=", 1) for e in config.get("Env") or [])
    if "PATH" not in want["env"] and got_env.get("PATH") == DEFAULT_PATH:
        del got_env["PATH"]
    problems = []
    if config.get("User") != want["user"]:
        problems.append(f"user {config.get('User')!r}, declared {want['user']!r}")
    if config.get("Entrypoint") != want["entrypoint"]:
        problems.append(f"entrypoint {config.get('Entrypoint')}, declared {want['entrypoint']}")
    if config.get("Cmd") != want["cmd"]:
        problems.append(f"cmd {config.get('Cmd')}, declared {want['cmd']}")
    if got_env != want["env"]:
        problems.append(f"env {got_env}, declared {want['env']}")
    if (config.get("Labels") or {}) != want["labels"]:
        problems.append(f"labels {config.get('Labels')}, declared {want['labels']}")

    # The runtime stage adds only the COPYs; `docker create` adds its own empty mount
    # points and resolver files, which are not part of the image.
    added_by_docker = {".dockerenv", "etc/hostname", "etc/hosts", "etc/mtab", "etc/resolv.conf", "dev/console", "dev/pts", "dev/shm", "proc", "sys"}
    files = image_files(image)
    found = sorted(set(files) - added_by_docker)
    if found != want["files"]:
        problems.append(f"files {found}, declared {want['files']}")
    uid = int(want["user"].split(":")[0])
    binary = files.get(want["entrypoint"][0].lstrip("/"))
    if binary is None or not binary.isfile():
        problems.append(f"entrypoint {want['entrypoint'][0]} is not a regular file in the image")
    elif not (binary.mode & 0o001 or (binary.uid == uid and binary.mode & 0o100)):
        problems.append(f"entrypoint mode {oct(binary.mode)} owner {binary.uid}: not executable by uid {uid}")
    if problems:
        raise LayoutError(f"image {image} differs from the declared runtime:\n  " + "\n  ".join(problems))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="also check this built image against the declared runtime")
    options = parser.parse_args()
    try:
        stages = {path: runtime_stage(path) for path in DOCKERFILES}
        (first, a), (second, b) = stages.items()
        if normalized(a) != normalized(b):
            diff = [f"  {x!r}  vs  {y!r}" for x, y in zip(normalized(a), normalized(b)) if x != y]
            if len(a) != len(b):
                diff.append(f"  {len(a)} steps vs {len(b)} steps")
            raise LayoutError(f"runtime stages differ ({first.name} vs {second.name}):\n" + "\n".join(diff))
        want = declared_runtime(a)
        print(f"image layout: the runtime stages of {first.name} and {second.name} agree "
              f"({len(a)} steps; user {want['user']}, files {', '.join('/' + f for f in want['files'])})")
        if options.image:
            check_image(options.image, want)
            print(f"image layout: {options.image} has exactly the declared user, entrypoint, command, env, labels and files")
    except LayoutError as error:
        print(f"image layout: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
