"""The wheel holds one import root, `zoo`, with search, benchmarks and the genotype files inside."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("darts_zoo-*.whl")
    return path


@pytest.mark.slow
def test_wheel_layout(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names if not n.startswith("darts_zoo-")}
    assert roots == {"zoo"}, "nothing generic (search, benchmarks, genotypes) at the top level"
    for required in ("zoo/search/__init__.py", "zoo/benchmarks/report.py", "zoo/genotypes/pdarts_3b.yaml",
                     "zoo/genotypes/darts_v2.yaml", "zoo/genotype.schema.json", "zoo/cli.py"):
        assert required in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "darts-zoo = zoo.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_installed_wheel_works_from_another_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    deps = sysconfig.get_paths()["purelib"]
    # A plain interpreter with the wheel first on the path: the editable install's finder (a .pth
    # hook of this venv) is not active, so only the wheel's files can be imported as `zoo`.
    code = ("import zoo, timm; m = timm.create_model('pdarts_3b'); "
            "assert zoo.__file__.startswith(%r), zoo.__file__; "
            "import zoo.search, zoo.benchmarks; print(m.layers, len(zoo.ZOO_NAMES))" % str(target))
    env = {"PYTHONPATH": f"{target}:{deps}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["26", "11"]
