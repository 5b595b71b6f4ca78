"""The extension is ready for the Slicer ExtensionsIndex, and its phantom cases are offered in Sample Data.

Always run: the project's own test of the index's rules on ``RadTriage.json``, ``CMakeLists.txt`` and
``LICENSE.txt`` (rules of ``scripts/check_description_files.py`` at ExtensionsIndex 07f1d1b, the catalog entry
schema and Slicer 5.12's extension template), and the slicer-free part of the Sample Data registration.

With a copy of the index (``RADTRIAGE_EXTENSIONS_INDEX`` = a checkout or folder holding
``scripts/check_description_files.py`` and the ``*.json`` entries, else the bare mirror at ``INDEX_MIRROR``), the
index's own script runs on ``RadTriage.json`` under Python >= 3.12 (it uses 3.12 syntax; ``RADTRIAGE_INDEX_PYTHON``
names one): its clone is redirected to a snapshot of this working tree (git ``insteadOf``), and only its three network
look-ups are done locally: the ``$schema`` download (local schema file), the GitHub topics query (not checkable
offline) and the icon/screenshot downloads (the file at that path in the clone, by its image signature).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "RadTriageCommon"))

from RadTriageCommonLib import sample_data  # noqa: E402

INDEX_MIRROR = Path("/work/.mirror/Slicer+ExtensionsIndex/repo")
SLICER_MIRROR = Path("/work/.mirror/Slicer+Slicer/repo")
SLICER_TAG = "v5.12.3"
INDEX_SCRIPT = "scripts/check_description_files.py"

# ACCEPTED_EXTENSION_CATEGORIES of scripts/check_description_files.py at ExtensionsIndex 07f1d1b (2026-08-07);
# test_category_is_still_accepted_by_the_index compares it with the live list when a copy of the index is at hand.
ACCEPTED_CATEGORIES = (
    "Active Learning", "Analysis", "Auto3dgm", "BigImage", "Cardiac", "Chest Imaging Platform", "Conda",
    "Converters", "DICOM", "DSCI", "Developer Tools", "Diffusion", "Examples", "Exporter", "FTV Segmentation",
    "Filtering", "Filtering.Morphology", "Filtering.Vesselness", "Holographic Display", "Image Synthesis", "IGT",
    "Informatics", "Netstim", "Neuroimaging", "Nuclear Medicine", "Orthodontics", "Osteotomy Planning",
    "Otolaryngology", "Photogrammetry", "Pipelines", "Planning", "Printing", "Quantification", "Radiotherapy",
    "Registration", "Remote", "Rendering", "SPHARM", "Segmentation", "Sequences", "Shape Analysis",
    "Shape Regression", "Shape Visualization", "Simulation", "SlicerCMF", "SlicerMorph", "Spectral Imaging",
    "Supervisely", "Surface Models", "SurfaceLearner", "Tomographic Reconstruction", "Tracking", "Tractography",
    "Training", "Ultrasound", "Utilities", "Vascular Modeling Toolkit", "Virtual Reality", "VisSimTools",
    "Web System Tools", "Wizards",
)  # fmt: skip

# Properties and required keys of Slicer's Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json.
SCHEMA_PROPERTIES = {
    "$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
    "build_dependencies": list, "build_subdirectory": str, "enabled": bool, "tier": int,
}  # fmt: skip
SCHEMA_REQUIRED = ("$schema", "category", "scm_url")

# First line of Utilities/Templates/Extensions/Default/CMakeLists.txt at Slicer v5.12.3.
TEMPLATE_MINIMUM = "cmake_minimum_required(VERSION 3.28.0...3.28.0 FATAL_ERROR)"

APACHE_2_SECTIONS = (
    "1. Definitions.",
    "2. Grant of Copyright License.",
    "3. Grant of Patent License.",
    "4. Redistribution.",
    "5. Submission of Contributions.",
    "6. Trademarks.",
    "7. Disclaimer of Warranty.",
    "8. Limitation of Liability.",
    "9. Accepting Warranty or Additional Liability.",
    "END OF TERMS AND CONDITIONS",
)


# ------------------------------------------------------------------------------------------- what the repo says


def catalog_entry() -> tuple[str, dict]:
    """The index description file at the repository root: (extension name, content)."""
    entries = [p for p in ROOT.glob("*.json") if "slicer-extension-catalog-entry" in p.read_text(encoding="utf-8")]
    assert len(entries) == 1, f"expected one catalog entry .json at the root, found {[p.name for p in entries]}"
    return entries[0].stem, json.loads(entries[0].read_text(encoding="utf-8"))


def cmake_text() -> str:
    return (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")


def cmake_set(name: str) -> str:
    """Value of ``set(NAME "...")`` (or unquoted) in the top-level CMakeLists.txt."""
    found = re.search(rf'^\s*set\(\s*{name}\s+(?:"([^"]*)"|([^\s)]+))', cmake_text(), re.M)
    assert found, f"CMakeLists.txt does not set {name}"
    return found.group(1) if found.group(1) is not None else found.group(2)


def cmake_project() -> str:
    """First ``project()`` argument, parsed the way check_description_files.check_cmakelists_content does."""
    found = re.findall(r"project\s*\(\s*([^\s\)\n\r]+)", cmake_text(), re.IGNORECASE | re.MULTILINE)
    assert found, "CMakeLists.txt has no project()"
    return found[0].strip().strip('"').strip("'")


def github_repo(url: str) -> str:
    """``owner/name`` of a github.com URL (``.git`` dropped)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "github.com", f"{url} is not an https://github.com URL"
    path = parts.path.strip("/")
    return path[: -len(".git")] if path.endswith(".git") else path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), f"{path.name} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# ------------------------------------------------------------------------------------------- copies of the index


def git_show(repo: Path, revision_path: str) -> str | None:
    """``git show REV:PATH`` of a (bare) repository, or None."""
    if not (repo / "HEAD").is_file() and not (repo / ".git").exists():
        return None
    shown = subprocess.run(["git", "-C", str(repo), "show", revision_path], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


@pytest.fixture(scope="session")
def index_copy(tmp_path_factory) -> Path | None:
    """A scratch folder holding the index's script and its top-level ``*.json`` entries, or None when no copy."""
    target = tmp_path_factory.mktemp("extensions-index")
    configured = os.environ.get("RADTRIAGE_EXTENSIONS_INDEX")
    if configured:
        source = Path(configured)
        if not (source / INDEX_SCRIPT).is_file():
            pytest.fail(f"RADTRIAGE_EXTENSIONS_INDEX={configured} has no {INDEX_SCRIPT}; point it at an index checkout")
        (target / "scripts").mkdir()
        shutil.copy2(source / INDEX_SCRIPT, target / INDEX_SCRIPT)
        for entry in source.glob("*.json"):
            shutil.copy2(entry, target / entry.name)
        return target
    if not (INDEX_MIRROR / "HEAD").is_file():
        return None
    archive = subprocess.run(["git", "-C", str(INDEX_MIRROR), "archive", "--format=tar", "HEAD"], capture_output=True)
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        wanted = [
            m for m in tar.getmembers() if m.name == INDEX_SCRIPT or ("/" not in m.name and m.name.endswith(".json"))
        ]
        tar.extractall(target, members=wanted, filter="data")
    return target


@pytest.fixture
def index(index_copy: Path | None) -> Path:
    if index_copy is None:
        pytest.skip(f"no copy of the ExtensionsIndex: set RADTRIAGE_EXTENSIONS_INDEX or provide {INDEX_MIRROR}")
    return index_copy


def python_312() -> str | None:
    """An interpreter that can run the index's script (Python >= 3.12; one with jsonschema first), or None."""
    candidates = [os.environ.get("RADTRIAGE_INDEX_PYTHON"), sys.executable]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted((str(p) for p in pyenv.glob("3.1[2-9]*/bin/python3")), reverse=True)
    candidates += [shutil.which("python3.13"), shutil.which("python3.12")]
    usable = []
    for candidate in filter(None, candidates):
        check = subprocess.run(
            [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True
        )
        if check.returncode == 0:
            usable.append(candidate)
    for candidate in usable:
        if subprocess.run([candidate, "-c", "import jsonschema"], capture_output=True).returncode == 0:
            return candidate
    return usable[0] if usable else None


# ----------------------------------------------------------------------------- the project's own index rules


def test_extension_name_follows_the_index_rules() -> None:
    name, entry = catalog_entry()
    assert not name.lower().startswith("slicer"), f"extension name {name} must not start with 'Slicer'"
    assert cmake_project() == name, f"project({cmake_project()}) must equal the catalog entry's name {name}"
    repo_name = github_repo(entry["scm_url"]).split("/")[-1]
    assert repo_name.startswith("Slicer"), f"repository name {repo_name} should start with 'Slicer'"


def test_category_is_accepted() -> None:
    _name, entry = catalog_entry()
    assert entry["category"] == cmake_set("EXTENSION_CATEGORY")
    assert entry["category"] in ACCEPTED_CATEGORIES, f"category {entry['category']!r} is not accepted by the index"


def test_license_is_apache_2() -> None:
    text = (ROOT / "LICENSE.txt").read_text(encoding="utf-8")
    head = [line.strip() for line in text.strip().splitlines()[:3]]
    assert head == ["Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"], head
    positions = [text.find(section) for section in APACHE_2_SECTIONS]
    assert -1 not in positions and positions == sorted(positions), dict(zip(APACHE_2_SECTIONS, positions, strict=True))
    assert "\r" not in text
    assert re.search(r'license\s*=\s*\{\s*text\s*=\s*"Apache-2.0"', (ROOT / "pyproject.toml").read_text())


def test_catalog_entry_is_valid_and_matches_cmake() -> None:
    name, entry = catalog_entry()
    path = ROOT / f"{name}.json"
    raw = path.read_bytes()
    assert b"\r" not in raw, "the index requires LF-only line endings"
    assert raw.decode() == json.dumps(entry, indent=2, sort_keys=True) + "\n", "format it like the index's entries"
    assert set(SCHEMA_REQUIRED) <= set(entry) <= set(SCHEMA_PROPERTIES), sorted(entry)
    for key, value in entry.items():
        assert isinstance(value, SCHEMA_PROPERTIES[key]), f"{key} must be {SCHEMA_PROPERTIES[key].__name__}"
    assert entry["$schema"].split("#")[0].endswith("/Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json")
    assert 1 <= entry["tier"] <= 5
    depends = cmake_set("EXTENSION_DEPENDS").split()
    assert entry["build_dependencies"] == ([] if depends == ["NA"] else depends)
    assert "PyTorch" in entry["build_dependencies"]
    assert entry.get("build_subdirectory", ".") == "."


def test_schema_properties_match_slicers_schema() -> None:
    text = git_show(SLICER_MIRROR, f"{SLICER_TAG}:Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json")
    if text is None:
        pytest.skip(f"no Slicer sources at {SLICER_MIRROR}")
    schema = json.loads(text)
    assert set(schema["properties"]) == set(SCHEMA_PROPERTIES) and schema["additionalProperties"] is False
    assert tuple(schema["required"]) == SCHEMA_REQUIRED
    types = {"string": str, "array": list, "boolean": bool, "integer": int}
    assert {k: types[v["type"]] for k, v in schema["properties"].items()} == SCHEMA_PROPERTIES


def test_urls_are_well_formed_and_point_into_the_repository() -> None:
    _name, entry = catalog_entry()
    repo = github_repo(entry["scm_url"])
    assert github_repo(cmake_set("EXTENSION_HOMEPAGE")) == repo
    raw_prefix = f"https://raw.githubusercontent.com/{repo}/{entry.get('scm_revision', 'main')}/"
    icon = cmake_set("EXTENSION_ICONURL")
    screenshots = cmake_set("EXTENSION_SCREENSHOTURLS").split()
    assert screenshots, "at least one screenshot URL"
    for url in [icon, *screenshots]:
        assert url.startswith(raw_prefix), f"{url} is not a raw download URL under {raw_prefix}"
        local = ROOT / urllib.parse.unquote(url[len(raw_prefix) :])
        assert local.is_file(), f"{url}: {local.relative_to(ROOT)} is not in the repository"
        png_size(local)
    assert png_size(ROOT / icon[len(raw_prefix) :]) == (128, 128), "Slicer wants a 128x128 PNG icon"


def module_folders() -> list[str]:
    """Folders at the root that hold a Slicer module (``X/CMakeLists.txt`` and ``X/X.py``)."""
    return sorted(p.parent.name for p in ROOT.glob("*/CMakeLists.txt") if (p.parent / f"{p.parent.name}.py").is_file())


def test_every_module_folder_is_added_by_cmake() -> None:
    added = re.findall(r"^\s*add_subdirectory\(\s*([^\s)]+)", cmake_text(), re.M)
    folders = module_folders()
    assert len(folders) >= 6, folders
    assert [f for f in folders if f not in added] == []
    assert [a for a in added if not (ROOT / a / "CMakeLists.txt").is_file()] == []


def command_names(text: str) -> list[str]:
    """CMake command names in order (comments dropped)."""
    return re.findall(r"^\s*([A-Za-z_]\w*)\s*\(", re.sub(r"#[^\n]*", "", text), re.M)


def test_cmake_follows_the_slicer_5_12_extension_template() -> None:
    text = cmake_text()
    assert text.splitlines()[0] == TEMPLATE_MINIMUM
    assert re.search(r"^find_package\(Slicer 5\.12 REQUIRED\)", text, re.M), "say Slicer 5.12 or newer"
    order = [n for n in command_names(text) if n not in ("set", "add_subdirectory", "if", "endif")]
    assert order == ["cmake_minimum_required", "project", "find_package", "include", "include", "include"], order
    template = git_show(SLICER_MIRROR, f"{SLICER_TAG}:Utilities/Templates/Extensions/Default/CMakeLists.txt")
    if template is None:
        pytest.skip(f"no Slicer sources at {SLICER_MIRROR}: checked against the recorded template line only")
    assert template.splitlines()[0] == TEMPLATE_MINIMUM
    assert order == [n for n in command_names(template) if n != "set"]
    template_sets = re.findall(r"^set\((EXTENSION_\w+)", template, re.M)
    ours = re.findall(r"^set\((EXTENSION_\w+)", text, re.M)
    assert set(template_sets) <= set(ours), set(template_sets) - set(ours)


# --------------------------------------------------------------------------- against a copy of the index


def test_category_is_still_accepted_by_the_index(index: Path) -> None:
    script = (index / INDEX_SCRIPT).read_text(encoding="utf-8")
    found = re.search(r"^ACCEPTED_EXTENSION_CATEGORIES = (\[.*?\])", script, re.M | re.S)
    assert found, "the index script no longer lists ACCEPTED_EXTENSION_CATEGORIES"
    live = ast.literal_eval(found.group(1))
    _name, entry = catalog_entry()
    assert entry["category"] in live


def test_build_dependencies_exist_in_the_index(index: Path) -> None:
    _name, entry = catalog_entry()
    missing = [d for d in entry["build_dependencies"] if not (index / f"{d}.json").is_file()]
    assert missing == [], f"not in the index: {missing}"


RUNNER = r'''
import importlib.util, json, os, sys, urllib.parse

script, schema_path, *files = sys.argv[1:]
spec = importlib.util.spec_from_file_location("check_description_files", script)
index = importlib.util.module_from_spec(spec)
spec.loader.exec_module(index)
Error = index.ExtensionCheckError
clones = {}
clone = index.check_clone_repository


def check_clone_repository(extension_name, metadata, cloned_repository_folder):
    clones[extension_name] = (metadata, cloned_repository_folder)
    return clone(extension_name, metadata, cloned_repository_folder)


def check_json_schema(extension_name, metadata):
    """The $schema download, done from a local copy of that schema file."""
    wanted = os.path.basename(metadata.get("$schema", "").split("#")[0])
    if not schema_path or os.path.basename(schema_path) != wanted:
        print(f"- :warning: JSON schema not checked: no local copy of {wanted}")
        return
    try:
        import jsonschema
    except ImportError:
        print("- :warning: JSON schema not checked: jsonschema is not installed for this Python")
        return
    with open(schema_path) as f:
        schema = json.load(f)
    try:
        jsonschema.validate(metadata, schema)
    except jsonschema.ValidationError as e:
        raise Error(extension_name, "check_json_schema", f"JSON schema validation failed: {e.message}")


def check_git_repository_topics(extension_name, metadata):
    print("- :warning: GitHub topics not checked: that needs api.github.com")


def validate_image_url(url, url_type, extension_name, check_name):
    """The image download, done as a look at that file in the clone."""
    metadata, folder = clones[extension_name]
    repo = urllib.parse.urlsplit(metadata["scm_url"]).path.strip("/").removesuffix(".git")
    prefix = f"https://raw.githubusercontent.com/{repo}/{metadata.get('scm_revision', 'main')}/"
    if not url.startswith(prefix):
        raise Error(extension_name, check_name, f"{url_type} '{url}' cannot be checked offline (not under {prefix})")
    path = os.path.join(folder, urllib.parse.unquote(url[len(prefix):]))
    if not os.path.isfile(path):
        raise Error(extension_name, check_name, f"{url_type} '{url}' is not a file in the repository")
    with open(path, "rb") as f:
        if not f.read(8).startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
            raise Error(extension_name, check_name, f"{url_type} '{url}' does not point to a valid image")


for replaced in (check_clone_repository, check_json_schema, check_git_repository_topics, validate_image_url):
    setattr(index, replaced.__name__, replaced)
sys.argv = [script, *files]
sys.exit(index.main())
'''


def snapshot_repository(target: Path) -> Path:
    """A one-commit git repository (branch main) of the working tree's tracked and unignored files."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    git = ["git", "-C", str(target), "-c", "user.name=RadTriage test", "-c", "user.email=test@localhost"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(git + args, check=True, capture_output=True)
    return target


def report_sections(report: str) -> dict[str, str]:
    """The index script's report cut into one text per ``## Extension: NAME`` section."""
    parts = re.split(r"^## Extension: (\S+)\n", report, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_index_script_passes_on_our_catalog_entry(index: Path, tmp_path: Path) -> None:
    """The index's own check_description_files.py: ours passes, a twin named Slicer* in 'Radiology' fails."""
    python = python_312()
    if python is None:
        pytest.skip("the index script needs Python >= 3.12 (set RADTRIAGE_INDEX_PYTHON)")
    if not (ROOT / ".git").exists():
        pytest.skip("the working tree is not a git checkout: nothing to snapshot for the script's clone")
    name, entry = catalog_entry()
    work = tmp_path / "index"
    shutil.copytree(index, work)
    shutil.copy2(ROOT / f"{name}.json", work / f"{name}.json")
    twin = {**entry, "category": "Radiology"}
    (work / f"Slicer{name}.json").write_text(json.dumps(twin, indent=2, sort_keys=True) + "\n")
    schema_name = entry["$schema"].split("#")[0].rsplit("/", 1)[-1]
    schema_text = git_show(SLICER_MIRROR, f"main:Schemas/{schema_name}") or git_show(
        SLICER_MIRROR, f"{SLICER_TAG}:Schemas/{schema_name}"
    )
    schema = ""
    if schema_text:
        schema = str(tmp_path / schema_name)
        Path(schema).write_text(schema_text)
    snapshot = snapshot_repository(tmp_path / "snapshot")
    env = {
        **os.environ,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{snapshot}.insteadOf",
        "GIT_CONFIG_VALUE_0": entry["scm_url"],
        "GIT_TERMINAL_PROMPT": "0",
    }
    run = subprocess.run(
        [python, "-c", RUNNER, INDEX_SCRIPT, schema, f"{name}.json", f"Slicer{name}.json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    sections = report_sections(report)
    ours, bad = sections[name], sections[f"Slicer{name}"]
    assert ":x:" not in ours, ours
    for check in ("Clone repository", "Check repository size", "Check JSON schema", "Check JSON file format",
                  "Check extension name", "Check category", "Check git repository name", "Check SCM URL syntax",
                  "Check CMakeLists.txt content", "Check license file"):  # fmt: skip
        assert f":white_check_mark: {check} completed successfully" in ours, (check, ours)
    assert f"Extension icon URL: {cmake_set('EXTENSION_ICONURL')}" in ours
    assert "License file (LICENSE.txt) content" in ours
    for failed in ("Check extension name failed", "Check category failed", "Check CMakeLists.txt content failed"):
        assert f":x: {failed}" in bad, (failed, bad)
    assert f"Checks failed for 1 extensions: Slicer{name}" in report
    assert ":white_check_mark: Dependency check completed successfully" in report
    assert run.returncode == 1  # only the twin failed


# ------------------------------------------------------------------------------------ Sample Data phantoms


def test_one_phantom_sample_per_task() -> None:
    names = [s.name for s in sample_data.PHANTOM_SAMPLES]
    assert len(set(names)) == len(names) and all(n.startswith("RadTriage") for n in names)
    assert [s.kind for s in sample_data.PHANTOM_SAMPLES] == ["brain", "swi", "lge", "body-ct"]
    assert sample_data.sample_named("RadTriageSWI").kind == "swi"
    with pytest.raises(KeyError, match="RadTriageBrainMR"):
        sample_data.sample_named("MRHead")


WRITE_WITHOUT_TORCH = r"""
import json, sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
from RadTriageCommonLib import sample_data
out = {}
for sample in sample_data.PHANTOM_SAMPLES:
    out[sample.name] = [str(p) for p in sample_data.write_sample(sample, sys.argv[1])]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def written_samples(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    """Every sample written into a scratch 'cache folder' by a Python in which torch cannot be imported."""
    cache = tmp_path_factory.mktemp("slicer-cache")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "RadTriageCommon"), str(ROOT)])}
    run = subprocess.run([sys.executable, "-c", WRITE_WITHOUT_TORCH, str(cache)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return cache, {k: [Path(p) for p in v] for k, v in json.loads(run.stdout).items()}


def test_samples_are_written_into_the_cache_without_torch(written_samples) -> None:
    from radtriage.io import read_volume

    cache, written = written_samples
    for sample in sample_data.PHANTOM_SAMPLES:
        paths = written[sample.name]
        assert paths == sample_data.volume_paths(sample, cache)
        for path in paths:
            image = read_volume(path)
            assert image.array.ndim == 3 and min(image.array.shape) > 1 and float(image.array.std()) > 0, path
    truth = {s.kind: json.loads((cache / s.file_names[0]).with_name("truth.json").read_text())
             for s in sample_data.PHANTOM_SAMPLES}  # fmt: skip
    assert truth["brain"]["findings"] and truth["swi"]["microbleeds"], "show a finding and microbleeds"
    assert len(truth["lge"]["slices"]) > 1 and truth["body-ct"]["modality"] == "CT"


def test_a_written_sample_is_reused_not_generated_again(written_samples) -> None:
    cache, _written = written_samples
    sample = sample_data.sample_named("RadTriageLGE")
    before = [p.stat().st_mtime_ns for p in sample_data.volume_paths(sample, cache)]
    sample_data.write_sample(sample, cache)
    assert [p.stat().st_mtime_ns for p in sample_data.volume_paths(sample, cache)] == before


def test_brain_node_names_tell_their_contrast() -> None:
    from radtriage.io.contrast import classify_name

    brain = sample_data.sample_named("RadTriageBrainMR")
    for node_name, file_name in zip(brain.node_names, brain.volumes, strict=True):
        assert classify_name(node_name).contrast.value == file_name.split(".")[0], node_name


def test_source_arguments_are_what_sample_data_needs(written_samples) -> None:
    """Lists of one length; each file:// URI names the file Sample Data finds at cache + '/' + fileName."""
    cache, _written = written_samples
    for sample in sample_data.PHANTOM_SAMPLES:
        args = sample_data.source_arguments(sample, cache)
        assert args["category"] == "RadTriage" and args["sampleName"] == sample.name
        assert len(args["uris"]) == len(args["fileNames"]) == len(args["nodeNames"]) == len(sample.volumes)
        for uri, file_name in zip(args["uris"], args["fileNames"], strict=True):
            target = Path(str(cache) + "/" + file_name)  # SampleDataLogic.downloadFile: destFolderPath + "/" + name
            assert Path(urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)) == target
            with urllib.request.urlopen(uri) as stream:  # what urlretrieve would read if the cache lost the file
                assert stream.read(2) == target.read_bytes()[:2]


class FakeSampleData:
    """Records what registerSampleData hands to SampleData.SampleDataLogic."""

    def __init__(self) -> None:
        self.categories: dict[str, str] = {}
        self.sources: list[dict] = []
        self.loaded: list[object] = []
        fake = self

        class SampleDataLogic:
            @staticmethod
            def registerCustomSampleDataCategory(category, title):
                fake.categories[category] = title

            @staticmethod
            def registerCustomSampleDataSource(**kwargs):
                fake.sources.append(kwargs)

            def downloadFromSource(self, source):
                fake.loaded.append(source)
                return ["node"]

        self.SampleDataLogic = SampleDataLogic


def module_function_sources(path: Path, names: tuple[str, ...]) -> str:
    """Source of the named top-level functions of a module file."""
    text = path.read_text(encoding="utf-8")
    nodes = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert sorted(n.name for n in nodes) == sorted(names), [n.name for n in nodes]
    return "\n\n".join(ast.get_source_segment(text, n) for n in nodes)


def test_register_sample_data_registers_and_loads_each_phantom(tmp_path: Path, monkeypatch) -> None:
    """RadTriageCommon's registerSampleData / loadPhantomSample, cut out of the module and run on fakes."""
    module = ROOT / "RadTriageCommon" / "RadTriageCommon.py"
    init = next(n for n in ast.walk(ast.parse(module.read_text())) if isinstance(n, ast.FunctionDef)
                and n.name == "__init__")  # fmt: skip
    assert "slicer.app.connect('startupCompleted()', registerSampleData)" in ast.unparse(init)
    fake = FakeSampleData()
    monkeypatch.setitem(sys.modules, "SampleData", fake)
    errors: list[str] = []
    cache = {"folder": tmp_path / "cache"}

    class Slicer:
        class mrmlScene:  # noqa: N801
            @staticmethod
            def GetCacheManager():
                return type("CacheManager", (), {"GetRemoteCacheDirectory": lambda self: str(cache["folder"])})()

        class util:  # noqa: N801
            WaitCursor = staticmethod(lambda: __import__("contextlib").nullcontext())
            errorDisplay = staticmethod(errors.append)

    namespace = {"slicer": Slicer, "_": str, "__name__": "RadTriageCommonUnderTest"}
    exec(module_function_sources(module, ("registerSampleData", "loadPhantomSample")), namespace)
    namespace["registerSampleData"]()
    assert fake.categories == {"RadTriage": "RadTriage"}
    assert [s["sampleName"] for s in fake.sources] == [s.name for s in sample_data.PHANTOM_SAMPLES]
    assert all(s["customDownloader"] is namespace["loadPhantomSample"] for s in fake.sources)
    source = type("Source", (), {"sampleName": "RadTriageBodyCT"})()
    assert fake.sources[-1]["customDownloader"](source) == ["node"]
    assert fake.loaded == [source] and errors == []
    body = sample_data.sample_named("RadTriageBodyCT")
    assert all(p.is_file() for p in sample_data.volume_paths(body, cache["folder"]))
    cache["folder"] = tmp_path / "blocked"  # the phantom folder cannot be made: one line for the user, nothing loaded
    cache["folder"].mkdir()
    (cache["folder"] / "RadTriage").write_text("a file where the folder should be")
    lge = type("Source", (), {"sampleName": "RadTriageLGE"})()
    assert fake.sources[0]["customDownloader"](lge) == []
    assert fake.loaded == [source] and len(errors) == 1, errors
    assert "RadTriageLGE" in errors[0] and str(cache["folder"]) in errors[0] and "\n" not in errors[0], errors


def test_sample_sources_are_valid_for_slicers_sample_data_source(tmp_path: Path) -> None:
    """Slicer's own SampleDataSource class (SampleData.py at v5.12.3, cut out and run) accepts each source."""
    text = git_show(SLICER_MIRROR, f"{SLICER_TAG}:Modules/Scripted/SampleData/SampleData.py")
    if text is None:
        pytest.skip(f"no Slicer sources at {SLICER_MIRROR}")
    tree = ast.parse(text)
    source_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SampleDataSource")
    register = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                    and n.name == "registerCustomSampleDataSource")  # fmt: skip
    parameters = {a.arg for a in register.args.args + register.args.kwonlyargs}
    namespace: dict = {}
    exec(ast.get_source_segment(text, source_class), namespace)
    for sample in sample_data.PHANTOM_SAMPLES:
        args = sample_data.source_arguments(sample, tmp_path)
        assert set(args) | {"customDownloader"} <= parameters
        args.pop("category")
        source = namespace["SampleDataSource"](**args, customDownloader=print)
        assert source.loadFileTypes == ["VolumeFile"] * len(sample.volumes)
        assert source.nodeNames == list(sample.node_names)
