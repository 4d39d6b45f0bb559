#!/usr/bin/env python3
"""End-to-end test runner: every `test_*` function of tests/e2e/test_*.py, in
file order, each in a child process with a timeout, printed as TAP and ending
with "N passed, N failed". Standard library only.

    run.py                 all tests
    run.py --list          names
    run.py NAME...         only these (module, module:function or function)

Environment: FCD = path of the fcd binary under test."""
import importlib.util
import multiprocessing
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = float(os.environ.get("E2E_TIMEOUT_S", "120"))


def discover():
    sys.path.insert(0, HERE)
    tests = []
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        funcs = [(k, v) for k, v in vars(module).items() if k.startswith("test_") and callable(v)]
        funcs.sort(key=lambda kv: kv[1].__code__.co_firstlineno)
        tests += [(f"{name[:-3]}:{k}", v) for k, v in funcs]
    return tests


def child(fn):
    try:
        fn()
    except BaseException:  # report everything, including assertion failures
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def run_one(fn):
    p = multiprocessing.get_context("fork").Process(target=child, args=(fn,))
    p.start()
    p.join(TIMEOUT_S)
    if p.is_alive():
        p.kill()
        p.join()
        print(f"# timed out after {TIMEOUT_S:.0f} s")
        return False
    return p.exitcode == 0


def main(argv):
    tests = discover()
    if argv[1:] == ["--list"]:
        for name, _ in tests:
            print(name)
        return 0
    if len(argv) > 1:
        wanted = set(argv[1:])
        tests = [(n, f) for n, f in tests if n in wanted or n.split(":")[1] in wanted
                 or n.split(":")[0] in wanted]
    print(f"1..{len(tests)}", flush=True)
    passed = failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        ok = run_one(fn)
        print(f"{'ok' if ok else 'not ok'} {i} - {name}", flush=True)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
