"""``python -m diagnostics``: the doctor's checks in this interpreter, with nothing but torch installed."""

import argparse
import sys

from diagnostics import doctor, pool, report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m diagnostics", description="Prove that torch works here, or say exactly what is wrong.")
    parser.add_argument("names", nargs="*", metavar="CHECK", help="check ids or groups (default: every check that is not opt-in)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to check (default: this one)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML, one testcase per check")
    parser.add_argument("--markdown", action="store_true", help="print a paste-ready report, with home paths, user names and GPU UUIDs redacted")
    parser.add_argument("--strict", action="store_true", help="warnings fail the run too")
    parser.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    parser.add_argument("--check-timeout", type=float, default=pool.CHECK_TIMEOUT, metavar="SECONDS", help="how long one check may take")
    parser.add_argument("--extra-checks", metavar="FILE", help="a Python file registering more checks")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the evidence of passing checks too")
    options = parser.parse_args(argv)
    try:
        if options.extra_checks:
            doctor.load_extra_checks(options.extra_checks)
        if options.list_checks:
            sys.stdout.write(doctor.list_checks())
            return report.EXIT_OK
        outcome = doctor.run(options.python, options.names, options.strict, options.check_timeout, options.extra_checks)
    except ValueError as error:
        parser.error(str(error))  # exits with status 2
    doctor.write_outputs(outcome, options.json, options.junit, options.markdown, options.verbose,
                         echo=print, echo_err=lambda line: print(line, file=sys.stderr))
    return outcome["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
