"""The plan options of the command line (``--torch``, ``--variant``, ``--gpu-cc``, …) as the
planner's ``Overrides``, each checked: a value that is none of its kind is bad input, said once."""

from typing import Mapping

from ..compat import load
from ..redact import shortened
from . import Overrides
from .policy import (
    ASKED_WITH_VARIANT,
    PlanError,
    known_variants,
    matching_releases,
    parse_compute_capability,
    parse_driver,
    parse_index_base,
    parse_l4t,
    parse_pci_device,
    parse_python_version,
)

# No version, driver, architecture or spec is this long: a longer value is a mistake (or an attack), said so at once.
MAX_VALUE = 100
FLAGS = {"torch_spec": "--torch", "variant": "--variant", "python_version": "--python-version", "nvidia_driver": "--nvidia-driver", "jetson": "--jetson"}


def overrides_from(given: Mapping[str, object]) -> Overrides:
    """The plan options a command has (``project init`` has only some: the rest keep their defaults)."""
    options = dict(
        torch_spec=None,
        variant="auto",
        with_packages=(),
        os_name=None,
        arch=None,
        python_version=None,
        nvidia_driver=None,
        gpu_cc=(),
        jetson=None,
        rocm_arch=(),
        intel_gpu=(),
        no_gpu=False,
        offline=False,
        index_base=None,
    )
    options.update(given)
    for name, value in options.items():
        for one in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(one, str) and any(ord(character) < 32 or ord(character) == 127 for character in one):
                flag = FLAGS.get(name) or "--" + name.replace("_spec", "").replace("_name", "").replace("_", "-")
                raise PlanError(f"{flag} {shortened(one.splitlines()[0], 20)!r}…: holds a line break or another control character, which no such value has")
    for name, flag in FLAGS.items():
        if options[name] and len(options[name]) > MAX_VALUE:
            raise PlanError(f"{flag} {options[name][:20]}…: {len(options[name])} characters, more than any such value has")
    for flag, values in (("--gpu-cc", options["gpu_cc"]), ("--rocm-arch", options["rocm_arch"]), ("--intel-gpu", options["intel_gpu"])):
        if any(len(value) > MAX_VALUE for value in values):
            raise PlanError(f"{flag}: a value of more than {MAX_VALUE} characters")
    if options["jetson"] and (options["os_name"] not in (None, "linux") or options["arch"] not in (None, "aarch64")):
        given = " ".join(f"--{flag} {options[name]}" for flag, name in (("os", "os_name"), ("arch", "arch")) if options[name])
        raise PlanError(
            f"--jetson {options['jetson']} with {given}: a Jetson board is Linux on aarch64", hint="leave --os and --arch out: --jetson implies them"
        )
    torch_spec, variant, asked = options["torch_spec"], options["variant"], ASKED_WITH_VARIANT
    if torch_spec and "+" in torch_spec:
        # "2.7.1+cu118" names the build too.
        if variant == "auto":
            asked = f"asked for with --torch {torch_spec}"
        torch_spec, local = torch_spec.split("+", 1)
        variant = local if variant == "auto" else variant
    if torch_spec:
        matching_releases(load(), torch_spec)  # a spec no release matches is said before anything is detected
    if variant != "auto" and variant not in known_variants(load()):
        raise PlanError(f"--variant {variant}: not a build torchup knows", hint="known: auto, " + ", ".join(known_variants(load())))
    return Overrides(
        torch=torch_spec,
        variant=variant,
        with_packages=options["with_packages"],
        os=options["os_name"],
        arch=options["arch"],
        python_version=parse_python_version(options["python_version"]) if options["python_version"] else None,
        nvidia_driver=parse_driver(options["nvidia_driver"]) if options["nvidia_driver"] else None,
        gpu_cc=tuple(parse_compute_capability(cc) for cc in options["gpu_cc"]),
        jetson=parse_l4t(options["jetson"]) if options["jetson"] else None,
        rocm_arch=tuple(arch for given in options["rocm_arch"] for arch in given.replace(",", " ").split()),
        intel_gpu=tuple(parse_pci_device(device) for given in options["intel_gpu"] for device in given.replace(",", " ").split()),
        no_gpu=options["no_gpu"],
        offline=options["offline"],
        index_base=parse_index_base(options["index_base"]) if options["index_base"] else None,
        variant_asked=asked,
    )
