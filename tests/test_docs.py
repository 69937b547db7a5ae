"""The manual: every relative link in README.md and docs/ resolves (file and heading), README's quick-start spec is
the example file, and every example spec parses."""

import re
from pathlib import Path

import pytest
import yaml

from rayedit.config import (
    AsyrpTrainSpec,
    DDSTrainSpec,
    GenerateSpec,
    HQSSelectSpec,
    JobSpec,
    SpecError,
    load_spec,
    parse_spec,
)

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for line in page.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert broken == []


def test_readme_is_for_users():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 15_000
    assert text.startswith("```bash\npython3.11 -m venv .venv && . .venv/bin/activate && pip install -e \".[test]\" "
                           "&& rayedit demo")


def test_readme_quick_start_spec_is_the_example():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(name: my-photos.*?)```", text, re.S).group(1)
    example = yaml.safe_load((ROOT / "examples" / "photos-sd15-reconstruct.yaml").read_text())
    assert yaml.safe_load(block) == example
    parse_spec(example)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_parses(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("#"), "an example says in its first comment what it does and what it needs"
    kinds = []
    for kind in (JobSpec, GenerateSpec, AsyrpTrainSpec, DDSTrainSpec, HQSSelectSpec):
        try:
            load_spec(path, kind=kind)
            kinds.append(kind.__name__)
        except SpecError:
            continue
    assert len(kinds) == 1, f"{path.name} parses as {kinds or 'no spec kind'}"


@pytest.mark.parametrize("name", ["photos-sd15-reconstruct.yaml", "photos-sd15-dds.yaml",
                                  "photos-sd15-translator-apply.yaml"])
def test_real_user_examples_validate_offline_up_to_the_model(name, tmp_path, capsys):
    from rayedit.cli import main
    from tests.helpers import png_bytes

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(png_bytes())
    code = main(["validate", str(ROOT / "examples" / name), "--set", f"input.url={photos}",
                 "--set", f"output.url={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert code == 2 and "could not load 'stable-diffusion-v1-5/stable-diffusion-v1-5'" in err
