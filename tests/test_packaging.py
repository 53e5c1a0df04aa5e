"""The package: installable, its requirement files agree with pyproject.toml, one-way imports, one settings home."""

import ast
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mmsa", "training")


def _requirements(path: Path) -> set[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return {ln.replace(" ", "") for ln in lines if ln and not ln.startswith("-r")}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_requirement_files_match_pyproject():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    assert _requirements(ROOT / "requirements.txt") == set(project["dependencies"]) | set(extras["app"])
    assert _requirements(ROOT / "training/requirements.txt") == (set(extras["training"]) | set(extras["aws"])) - \
        set(extras["app"])
    dev = {r for r in extras["dev"] if not r.startswith("mmsa[")}
    assert _requirements(ROOT / "requirements-dev.txt") == dev
    assert project["scripts"] == {"mmsa": "mmsa.cli:main"}


def _imports(path: Path, package: str) -> set[str]:
    """Modules of PACKAGES that a file imports, at the top or inside functions."""
    tree = ast.parse(path.read_text())
    here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    parent = here.rsplit(".", 1)[0] if path.name != "__init__.py" else here
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent.rsplit(".", node.level - 1)[0] if node.level > 1 else parent
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            found.update(n if _module_path(n) else target for n in names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES and _module_path(m) and m != here}


def _module_path(name: str) -> Path | None:
    p = ROOT.joinpath(*name.split("."))
    for candidate in (p.with_suffix(".py"), p / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_import_graph_has_no_cycles():
    graph = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            graph[name.removesuffix(".__init__")] = {m.removesuffix(".__init__") for m in _imports(path, package)}
    assert "training.run" in graph["training.train"] and "mmsa.loading" in graph["mmsa.model"]  # the walk works

    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if dep == node.rsplit(".", 1)[0] or node == dep.rsplit(".", 1)[0]:
                continue  # a package and its own __init__ re-exports
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_no_sys_path_inserts_except_the_sagemaker_entry_points():
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if ".venv" not in p.parts and "sys.path.insert" in p.read_text() and p.name != "test_packaging.py"]
    # SageMaker runs these two files as scripts, from the uploaded code folder
    assert sorted(offenders) == ["training/analyze_entry.py", "training/sagemaker_entry.py"]


def test_no_test_imports_another_test_module():
    for path in (ROOT / "tests").glob("test_*.py"):
        assert not re.search(r"from tests\.test_|import tests\.test_", path.read_text()), path.name


def test_model_config_defaults_are_the_cpu_preset():
    from mmsa.config import ModelConfig, preset_config

    assert preset_config("cpu", text_config={"model_type": "bert"}) == ModelConfig(text_config={"model_type": "bert"})
    tiny = preset_config("tiny", text_config={"model_type": "bert"})
    assert (tiny.proj_dim, tiny.video_backbone, tiny.preset) == (16, "tiny3d", "tiny")


def test_readme_lists_every_setting():
    from mmsa.settings import VARIABLES, markdown_table

    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme
    used = set()
    for package in (*PACKAGES, "app.py"):
        paths = [ROOT / package] if package.endswith(".py") else (ROOT / package).rglob("*.py")
        for path in paths:
            used |= set(re.findall(r'"(MMSA_[A-Z_]+)"', path.read_text()))
    assert used - {"MMSA_S3_BUCKET", "MMSA_HF_TOKEN_SECRET"} <= set(VARIABLES)  # the AWS ones belong to their CLIs


def test_bad_settings_name_the_variable(monkeypatch):
    from mmsa.settings import Settings, SettingsError

    monkeypatch.setenv("MMSA_MAX_DURATION", "ten minutes")
    with pytest.raises(SettingsError, match="MMSA_MAX_DURATION='ten minutes' is not a number"):
        Settings.from_env()
    monkeypatch.setenv("MMSA_MAX_DURATION", "120")
    monkeypatch.setenv("MMSA_QUEUE_SIZE", "0")
    with pytest.raises(SettingsError, match="MMSA_QUEUE_SIZE must be > 0"):
        Settings.from_env()
    monkeypatch.setenv("MMSA_QUEUE_SIZE", "4")
    monkeypatch.setenv("MMSA_CACHE_DIR", "/tmp/x")
    s = Settings.from_env()
    assert (s.max_duration, s.queue_size, s.cache_dir) == (120.0, 4, Path("/tmp/x"))


def test_no_invented_project_url(tiny_model, tmp_path):
    from training.card import render_card

    assert "mmsa-project" not in (ROOT / "mmsa/model.py").read_text()
    card = str(render_card(tiny_model))
    assert "Built with mmsa." in card and "github.com" not in card


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel pip builds from this checkout, installed into an empty folder (no checkout on its path)."""
    import shutil

    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy of what the sdist holds, so the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "mmsa", "training", "model_card"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (ROOT / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(source)], check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("mmsa-*.whl"))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return wheel, target


def test_wheel_carries_the_starter_the_card_template_and_the_console_script(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {"mmsa/starter_model/head.safetensors", "mmsa/starter_model/config.json",
            "training/model_card/template.md", "training/requirements-sagemaker.txt", "mmsa/cli.py",
            "mmsa/face_model/face_landmarker.task", "mmsa/face_model/README.md"} <= set(names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mmsa = mmsa.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "scripts/"))]


@pytest.mark.e2e
def test_installed_package_imports_and_analyzes_from_another_folder(installed, tiny_model_dir, speech_video):
    _, target = installed
    env = dict(os.environ, PYTHONPATH=str(target))
    code = ("import mmsa, training.card; from mmsa import MultimodalSentimentModel, Analyzer; "
            "print(mmsa.__file__); print(training.card.template_path())")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0].startswith(str(target)) and str(target) in out.stdout.splitlines()[1]
    proc = subprocess.run([str(target / "bin" / "mmsa"), "analyze", str(speech_video), "--model", str(tiny_model_dir),
                           "--format", "csv"], cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("start,end,speaker,text,emotion") and "happy" in proc.stdout


def test_one_opencv_is_installed_and_it_has_what_both_face_detectors_need():
    """mediapipe depends on opencv-contrib-python; a second OpenCV package would write over its cv2 folder."""
    from importlib import metadata

    opencvs = {"opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"}
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()} & opencvs
    assert installed == {"opencv-contrib-python"}
    import cv2
    import mediapipe  # noqa: F401

    assert cv2.__version__.startswith("4.") and not cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml").empty()
