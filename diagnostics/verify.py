"""What got installed, as the target interpreter sees it: one JSON document on stdout.

Runs inside the target after ``torchup install`` (and before it, to find an install already
done). Standard library plus the packages it checks; each failure is reported, never raised.
"""

import json
import sys
import warnings


def _error(error):
    return "%s: %s" % (type(error).__name__, error)


def collect():
    report = {"python": "%d.%d.%d" % sys.version_info[:3]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except BaseException as error:  # ImportError, OSError from a missing library, SystemExit
            report["torch_error"] = _error(error)
            torch = None
        try:
            import numpy
            report["numpy"] = numpy.__version__
        except BaseException as error:
            report["numpy_error"] = _error(error)
            numpy = None
        try:
            import scipy
            import scipy.linalg

            report["scipy"] = scipy.__version__
        except BaseException as error:
            report["scipy_error"] = _error(error)
    report["warnings"] = [str(warning.message).splitlines()[0] for warning in caught]
    if torch is None:
        return report
    report["torch"] = torch.__version__
    report["cuda"] = torch.version.cuda
    report["hip"] = getattr(torch.version, "hip", None)
    try:
        report["cuda_available"] = bool(torch.cuda.is_available())
        report["device_count"] = torch.cuda.device_count()
    except BaseException as error:
        report["cuda_error"] = _error(error)
    try:
        # The tutorial's autograd example: d/dx mean(3 (x + 2)^2) at x = 1 is 4.5 in every element.
        x = torch.ones(2, 2, requires_grad=True)
        (((x + 2) * (x + 2) * 3).mean()).backward()
        report["autograd"] = x.grad.tolist()
    except BaseException as error:
        report["autograd_error"] = _error(error)
    if numpy is not None:
        try:
            array = numpy.arange(6.0).reshape(2, 3)
            tensor = torch.from_numpy(array)
            tensor[0, 0] = 42.0  # shares memory: the write shows through
            report["from_numpy"] = bool(array[0, 0] == 42.0 and tensor.numpy().tolist() == array.tolist())
        except BaseException as error:
            report["from_numpy_error"] = _error(error)
    return report


def main():
    json.dump(collect(), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
