"""Finding an imported function or class by path, as Python's import system would, or saying
that only jedi can tell (UNDECIDED)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradwatch.analysis.import_paths import UNDECIDED, ImportPaths


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .layers import Mlp\nfrom .models.factory import create as create_model\n",
            "pkg/layers/__init__.py": "from .mlp import *\nfrom .norm import Norm\n",
            "pkg/layers/mlp.py": "import torch\n\nclass Mlp:\n    pass\n",
            "pkg/layers/norm.py": "from torch.nn import LayerNorm as Norm\n",
            "pkg/models/__init__.py": "",
            "pkg/models/factory.py": "def create(name):\n    return name\n\nalias = create\n",
            "pkg/models/branchy.py": "import sys\nif sys.platform:\n    def f():\n        pass\n",
            "pkg/models/resnet.py": "from ..models.factory import create\nfrom . import factory\n",
            "space/sub/mod.py": "async def go():\n    pass\n",
            "scripts/train.py": "from helper import step\n",
            "scripts/helper.py": "def step():\n    pass\n",
        },
    )
    return tmp_path


def found(project: Path, importing: str, imported: str):
    answer, _ = ImportPaths(project).definition(str(project / importing), imported)
    if answer is UNDECIDED or answer is None:
        return answer
    return (Path(answer.path).relative_to(project).as_posix(), answer.line, answer.kind, answer.name)


def test_re_exports_are_followed_to_the_definition(project: Path) -> None:
    assert found(project, "main.py", "pkg.layers.Mlp") == ("pkg/layers/mlp.py", 3, "class", "Mlp")  # a star import
    assert found(project, "pkg/models/resnet.py", "pkg.create_model") == ("pkg/models/factory.py", 1, "function", "create")
    assert found(project, "main.py", "pkg.models.factory.create") == ("pkg/models/factory.py", 1, "function", "create")


def test_relative_imports_count_their_dots(project: Path) -> None:
    assert found(project, "pkg/models/resnet.py", "..models.factory.create")[0] == "pkg/models/factory.py"
    assert found(project, "pkg/models/resnet.py", ".factory.create")[0] == "pkg/models/factory.py"


def test_a_torch_re_export_is_named_by_its_torch_path(project: Path) -> None:
    answer, _ = ImportPaths(project).definition(str(project / "main.py"), "pkg.layers.Norm")
    assert (answer.kind, answer.name) == ("torch", "torch.nn.LayerNorm")


def test_what_python_would_decide_at_run_time_is_left_to_jedi(project: Path) -> None:
    assert found(project, "main.py", "pkg.models.branchy.f") is UNDECIDED  # bound in a branch
    assert found(project, "main.py", "pkg.models.factory.missing") is UNDECIDED


def test_namespace_packages_and_async_defs(project: Path) -> None:
    assert found(project, "main.py", "space.sub.mod.go") == ("space/sub/mod.py", 1, "function", "go")


def test_a_script_finds_the_modules_next_to_it(project: Path) -> None:
    assert found(project, "scripts/train.py", "helper.step") == ("scripts/helper.py", 1, "function", "step")


def test_names_outside_the_project_are_not_definitions(project: Path) -> None:
    assert found(project, "main.py", "numpy.zeros") is None
    assert found(project, "main.py", "pkg.models.factory") is None  # a module, not a callable


def test_star_imports_are_followed_by_what_they_export(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "lib/__init__.py": "from .early import helper\nfrom .ops import *\nfrom .more import *\n",
            "lib/early.py": "def helper():\n    pass\n",
            "lib/ops.py": "__all__ = ['act']\n\ndef act():\n    pass\n\ndef hidden():\n    pass\n",
            "lib/more.py": "from .ops import *\n\ndef helper():\n    pass\n",
            "cyc/__init__.py": "from .a import *\n",
            "cyc/a.py": "from .b import *\n\ndef fa():\n    pass\n",
            "cyc/b.py": "from .a import *\n\ndef fb():\n    pass\n",
        },
    )
    assert found(tmp_path, "main.py", "lib.act") == ("lib/ops.py", 3, "function", "act")
    # `more` also exports `helper`: it rebinds the one imported before it.
    assert found(tmp_path, "main.py", "lib.helper") == ("lib/more.py", 3, "function", "helper")
    assert found(tmp_path, "main.py", "lib.hidden") is UNDECIDED  # not in `__all__`: not bound
    # Star imports in a cycle end (what they export is then unknown).
    assert found(tmp_path, "main.py", "cyc.fa") in (UNDECIDED, ("cyc/a.py", 3, "function", "fa"))


def test_an_assigned_name_is_no_function_to_follow(project: Path) -> None:
    assert found(project, "main.py", "pkg.models.factory.alias") is None


def test_the_answer_names_every_file_it_depends_on(project: Path) -> None:
    answer, consulted = ImportPaths(project).definition(str(project / "main.py"), "pkg.create_model")
    assert answer.name == "create"
    relative = {Path(path).relative_to(project).as_posix() for path in consulted}
    # Read along the re-export, and looked for (absent: creating one would change the answer).
    assert {"pkg/__init__.py", "pkg/models/factory.py", "pkg/models/__init__.py", "pkg.py"} <= relative


def test_the_same_import_twice_is_no_doubt_but_two_different_ones_are(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .acts import get_act, make_act, get_act\nfrom .a import pick\nfrom .b import pick\n",
            "pkg/acts.py": "def get_act():\n    pass\n\ndef make_act():\n    pass\n",
            "pkg/a.py": "def pick():\n    pass\n",
            "pkg/b.py": "def pick():\n    pass\n",
        },
    )
    assert found(tmp_path, "main.py", "pkg.get_act") == ("pkg/acts.py", 1, "function", "get_act")
    assert found(tmp_path, "main.py", "pkg.pick") is UNDECIDED


def test_a_method_the_class_defines_is_found_and_an_inherited_one_left_to_jedi(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .models import Net\n",
            "pkg/base.py": "class Base:\n    @classmethod\n    def from_pretrained(cls, path):\n        pass\n",
            "pkg/models.py": (
                "from .base import Base\n\nclass Net(Base):\n    kind = 1\n\n"
                "    @staticmethod\n    def make(x):\n        return x\n\n"
                "    @classmethod\n    def build(cls, x):\n        make = 2\n        return x\n\n"
                "    @property\n    def size(self):\n        return 1\n\n"
                "    if True:\n        def maybe(self):\n            pass\n"
            ),
        },
    )
    assert found(tmp_path, "main.py", "pkg.Net.make") == ("pkg/models.py", 7, "function", "make")
    assert found(tmp_path, "main.py", "pkg.Net.build") == ("pkg/models.py", 11, "function", "build")
    # Not in Net's body: in its only base's, as Python looks it up.
    assert found(tmp_path, "main.py", "pkg.Net.from_pretrained") == ("pkg/base.py", 3, "function", "from_pretrained")
    for undecided in ("pkg.Net.size", "pkg.Net.maybe", "pkg.Net.kind", "pkg.Net.make.x", "pkg.Net.missing"):
        assert found(tmp_path, "main.py", undecided) is UNDECIDED, undecided


def test_a_lazily_importing_package_binds_what_type_checkers_see(tmp_path: Path) -> None:
    # diffusers' and transformers' `__init__.py`: the imports under `if TYPE_CHECKING` are what
    # the lazy module finds at run time; an availability check that only imports binds its
    # names wherever a call of them runs. What else the module binds in a branch stays undecided.
    write(
        tmp_path,
        {
            "pkg/__init__.py": (
                "import sys\n"
                "from typing import TYPE_CHECKING\n"
                "from .utils import is_torch_available\n\n"
                "if TYPE_CHECKING or SLOW_IMPORT:\n"
                "    if is_torch_available():\n"
                "        from .unets import UNet\n"
                "    from .plain import Plain\n"
                "else:\n"
                "    sys.modules[__name__] = object()\n"
                "    Plain = None\n\n"
                "if is_torch_available():\n"
                "    from .unets import make_unet\n"
                "    helper = make_unet\n"
            ),
            "pkg/utils.py": "def is_torch_available():\n    return True\n",
            "pkg/unets.py": "class UNet:\n    @classmethod\n    def build(cls):\n        return cls()\n\ndef make_unet():\n    pass\n",
            "pkg/plain.py": "class Plain:\n    pass\n",
        },
    )
    assert found(tmp_path, "main.py", "pkg.UNet") == ("pkg/unets.py", 1, "class", "UNet")
    assert found(tmp_path, "main.py", "pkg.UNet.build") == ("pkg/unets.py", 3, "function", "build")
    assert found(tmp_path, "main.py", "pkg.Plain") is UNDECIDED  # the `else` binds it too
    assert found(tmp_path, "main.py", "pkg.make_unet") is UNDECIDED  # its `if` does more than import
