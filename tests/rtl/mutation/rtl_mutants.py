#!/usr/bin/env python3
"""Mutation test of the RTL regression: does `ctest -L rtl` (and `-L cosim`) catch single-point mutants of rtl/?

    tests/rtl/mutation/rtl_mutants.py [--build DIR] [--only ID,ID...] [--table FILE] [--no-baseline]
    tests/rtl/mutation/rtl_mutants.py --list

The mutants are listed in mutants.py (one textual replacement each). The run configures one build folder
(default build-mutation/ in the source tree, reused across runs) whose RTL comes from a copy of rtl/,
DIR/rtl-under-test (CMake cache SOP_RTL_DIR, cmake/rtl_sources.cmake): rtl/ itself is never written. For
the unmutated copy first (the baseline: every test must pass, else the run stops) and then for each mutant,
it writes the copy, rebuilds the regression's binaries and `sop` with its co-simulation tests (only the
verilated models change; ccache, when installed, serves the rest), runs `ctest -L rtl` and `ctest -L cosim`
and records which tests failed and, from the regression's output, which of its checks fired. A mutant is
caught when any test fails; one that does not build is an error of the mutant list. Prints a markdown table
(and writes it to --table); exits 0 only when every mutant built and was caught. docs/rtl.md shows a run.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
from mutants import MUTANTS  # noqa: E402

# The binaries the two labels run: the regression's (a custom target of tests/rtl) and the cosim tests,
# which depend on `sop`.
TARGETS = ["rtl_regression", "sop_cosim_tests", "sop"]
LABELS = ["rtl", "cosim"]

# Markers of the regression harness's output (tests/rtl/decode_unit_tb.cc) and of the other rtl tests.
CHECKS = [
    ("MISMATCH", "values"),
    ("PROTOCOL", "handshake"),
    ("TIMING", "beat/residual cycle"),
    ("CYCLES", "cycle count"),
    ("deadlock", "deadlock"),
    ("residuals left behind", "residuals left"),
    ("%Warning", "lint"),
    ("%Error", "lint"),
    ("was NOT caught", "values"),
    ("did not trip", "assertion"),
]


def log(msg):
    print(msg, flush=True)


def run_group(cmd, log_path, timeout=None, env=None):
    """Runs cmd in its own session, output to log_path; afterwards ends whatever the session left running
    (a `sop` child a timed-out test left behind). Returns the exit code (or -1 on timeout)."""
    with open(log_path, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = -1
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    return rc


def apply_mutant(text, m):
    n = text.count(m["find"])
    if n != 1:
        raise SystemExit(f"mutant {m['id']}: its text occurs {n} times in rtl/{m['file']} (must be once): update mutants.py")
    return text.replace(m["find"], m["replace"])


def write_rtl(dest, mutant):
    """dest := a copy of rtl/, with the mutant applied. Files are rewritten in place (same paths), so the
    build's configuration stays valid and only what depends on the RTL rebuilds."""
    src = os.path.join(SRC, "rtl")
    for root, _dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for f in files:
            s, d = os.path.join(root, f), os.path.join(dest, rel, f)
            with open(s) as fh:
                text = fh.read()
            if mutant is not None and rel == "." and f == mutant["file"]:
                text = apply_mutant(text, mutant)
            old = None
            if os.path.exists(d):
                with open(d) as fh:
                    old = fh.read()
            if old != text:
                with open(d, "w") as fh:
                    fh.write(text)
                shutil.copymode(s, d)


def configure(build, rtl_dir):
    cmd = ["cmake", "-S", SRC, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", f"-DSOP_RTL_DIR={rtl_dir}"]
    if shutil.which("ccache"):
        cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    rc = run_group(cmd, os.path.join(build, "mutation-configure.log"))
    if rc != 0:
        raise SystemExit(f"configuring {build} failed: see {build}/mutation-configure.log")


def junit_failures(path):
    """(failed test names, {test: output}, number of tests) from a ctest JUnit file."""
    if not os.path.exists(path):
        return None, {}, 0
    root = ET.parse(path).getroot()
    failed, outputs, total = [], {}, 0
    for tc in root.iter("testcase"):
        total += 1
        status = tc.get("status", "")
        if status in ("fail", "failed") or tc.find("failure") is not None or tc.find("error") is not None:
            name = tc.get("name")
            failed.append(name)
            out = tc.find("system-out")
            outputs[name] = out.text if out is not None and out.text else ""
    return failed, outputs, total


def short(name):
    return name.split("  #")[0].strip()


def run_tests(build, tag, jobs, timeout):
    """Per label: (failed tests, checks that fired, total tests, seconds)."""
    res = {}
    for label in LABELS:
        junit = os.path.join(build, f"mutation-{tag}-{label}.xml")
        if os.path.exists(junit):
            os.remove(junit)
        t0 = time.time()
        run_group(["ctest", "--test-dir", build, "-L", label, "-j", str(jobs), "--timeout", str(timeout),
                   "--output-junit", junit], os.path.join(build, f"mutation-{tag}-{label}.log"))
        res[label] = results_of(junit, time.time() - t0)
        if res[label] is None:
            raise SystemExit(f"ctest -L {label} wrote no results: see {build}/mutation-{tag}-{label}.log")
    return res


def results_of(junit, secs):
    """(failed tests, checks that fired, total tests, seconds) from one label's JUnit file, or None."""
    failed, outputs, total = junit_failures(junit)
    if failed is None:
        return None
    fired = set()
    for name, out in outputs.items():
        # The broken multiplier's mismatches are expected: not a finding, whatever else stopped that run.
        expected_mismatches = short(name) == "rtl_broken_multiply_is_caught"
        hits = [what for marker, what in CHECKS if marker in out and not (marker == "MISMATCH" and expected_mismatches)]
        fired.update(hits if hits else ["test failed"])
    return sorted(short(f) for f in failed), fired, total, secs


def build_targets(build, tag, jobs):
    t0 = time.time()
    rc = run_group(["cmake", "--build", build, "-j", str(jobs), "--target"] + TARGETS,
                   os.path.join(build, f"mutation-{tag}-build.log"))
    return rc == 0, time.time() - t0


# Test families for the table: a prefix and how to show it (the rest of the name is the configuration).
FAMILIES = [
    ("rtl_random_ready_out_", "ready-out"),
    ("rtl_random_", "random"),
    ("rtl_directed_", "directed"),
    ("rtl_real_models_", "real"),
    ("rtl_broken_multiply_is_caught", "broken-mul"),
    ("Packs/Cosim.EnginesAgreeOnStories260K/", "engines-agree"),
]


def families(tests):
    """Failing tests grouped by family, e.g. `random x4, directed x3, rtl_lint`."""
    counts, order = {}, []
    for t in tests:
        label = next((show for prefix, show in FAMILIES if t.startswith(prefix)), t)
        if label not in counts:
            order.append(label)
            counts[label] = 0
        counts[label] += 1
    return ", ".join(f"{lab} x{counts[lab]}" if counts[lab] > 1 else lab for lab in order) or "-"


def table(rows, footer):
    """rows: (index, mutant, results or None when it did not build)."""
    lines = [
        "| # | kind | mutant | change | rtl tests failing | regression checks that fired | cosim tests failing |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, m, res in rows:
        if res is None:
            lines.append(f"| {i} | {m['kind']} | `{m['id']}` | {m['what']} | DOES NOT BUILD | | |")
            continue
        rtl_failed, fired, rtl_total, _ = res["rtl"]
        cos_failed, _f, cos_total, _ = res["cosim"]
        verdict = "" if (rtl_failed or cos_failed) else " **SURVIVED**"
        lines.append(f"| {i} | {m['kind']} | `{m['id']}` | {m['what']}{verdict} | {len(rtl_failed)}/{rtl_total}: "
                     f"{families(rtl_failed)} | {', '.join(sorted(fired)) or '-'} | {len(cos_failed)}/{cos_total}: "
                     f"{families(cos_failed)} |")
    lines += ["", footer]
    return "\n".join(lines)


def emit(text, path):
    print(text)
    if path:
        with open(path, "w") as fh:
            fh.write(text + "\n")


def report(build, mutants, path):
    rows, missing = [], 0
    for i, m in enumerate(mutants, 1):
        res = {label: results_of(os.path.join(build, f"mutation-{m['id']}-{label}.xml"), 0) for label in LABELS}
        if any(r is None for r in res.values()):
            missing += 1
            res = None  # not run, or did not build
        rows.append((i, m, res))
    survived = sum(1 for r in rows if r[2] is not None and not (r[2]["rtl"][0] or r[2]["cosim"][0]))
    emit(table(rows, f"{len(rows) - survived - missing} of {len(rows)} mutants caught, {survived} survived, "
                     f"{missing} without results (from the JUnit files in {build})."), path)
    return 0 if survived == 0 and missing == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build-mutation"), help="build folder (reused)")
    ap.add_argument("--only", default="", help="comma-separated mutant ids (default: all)")
    ap.add_argument("--table", default="", help="also write the markdown table here")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    ap.add_argument("--jobs", type=int, default=2, help="build and ctest parallelism (default 2)")
    ap.add_argument("--timeout", type=int, default=120, help="ctest --timeout per test, seconds (default 120)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--report", action="store_true",
                    help="print the table of the last run in --build from its JUnit files, without building")
    a = ap.parse_args()

    mutants = MUTANTS
    if a.only:
        want = a.only.split(",")
        unknown = [w for w in want if w not in {m["id"] for m in MUTANTS}]
        if unknown:
            raise SystemExit(f"unknown mutant(s): {', '.join(unknown)} (--list shows them)")
        mutants = [m for m in MUTANTS if m["id"] in want]
    if a.list:
        for m in mutants:
            print(f"{m['id']:30s} {m['kind']:24s} {m['file']:18s} {m['what']}")
        return 0
    if a.report:
        return report(os.path.abspath(a.build), mutants, a.table)
    # Every selected mutant must apply to the committed RTL before anything is built.
    for m in mutants:
        with open(os.path.join(SRC, "rtl", m["file"])) as fh:
            apply_mutant(fh.read(), m)

    build = os.path.abspath(a.build)
    rtl_dir = os.path.join(build, "rtl-under-test")
    os.makedirs(build, exist_ok=True)
    t_start = time.time()
    write_rtl(rtl_dir, None)
    configure(build, rtl_dir)

    if not a.no_baseline:
        ok, secs = build_targets(build, "baseline", a.jobs)
        if not ok:
            raise SystemExit(f"the unmutated RTL does not build: see {build}/mutation-baseline-build.log")
        res = run_tests(build, "baseline", a.jobs, a.timeout)
        bad = res["rtl"][0] + res["cosim"][0]
        log(f"baseline: built in {secs:.0f} s; rtl {res['rtl'][2]} tests, cosim {res['cosim'][2]} tests, "
            f"{len(bad)} failed")
        if bad:
            raise SystemExit(f"the regression fails on the unmutated RTL ({', '.join(bad)}): fix that first")

    rows, errors = [], 0
    for i, m in enumerate(mutants, 1):
        write_rtl(rtl_dir, m)
        ok, bsecs = build_targets(build, m["id"], a.jobs)
        if not ok:
            errors += 1
            rows.append((i, m, None))
            log(f"[{i}/{len(mutants)}] {m['id']}: DOES NOT BUILD (see {build}/mutation-{m['id']}-build.log)")
            continue
        res = run_tests(build, m["id"], a.jobs, a.timeout)
        tsecs = res["rtl"][3] + res["cosim"][3]
        rows.append((i, m, res))
        caught = bool(res["rtl"][0] or res["cosim"][0])
        log(f"[{i}/{len(mutants)}] {m['id']}: {'caught' if caught else 'SURVIVED'} "
            f"(rtl {len(res['rtl'][0])}/{res['rtl'][2]}, cosim {len(res['cosim'][0])}/{res['cosim'][2]} failed; "
            f"build {bsecs:.0f} s, tests {tsecs:.0f} s)")
    write_rtl(rtl_dir, None)  # the copy back to the committed RTL (the binaries stay the last mutant's)

    survived = sum(1 for r in rows if r[2] is not None and not (r[2]["rtl"][0] or r[2]["cosim"][0]))
    caught = len(rows) - survived - errors
    footer = (f"{caught} of {len(rows)} mutants caught, {survived} survived, {errors} did not build; "
              f"{(time.time() - t_start) / 60:.1f} min in all ({len(rows)} mutants"
              f"{'' if a.no_baseline else ' and the baseline'}, --jobs {a.jobs}).")
    emit(table(rows, footer), a.table)
    return 0 if survived == 0 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
