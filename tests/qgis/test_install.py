"""``make qgis-install``: the plugin unpacked into a profile, enabled in its QGIS3.ini, the worker recorded."""
from __future__ import annotations

import json
import sys


def test_install_enables_the_plugin_and_keeps_the_profiles_settings(qgis_install, repo_root, tmp_path):
    profile = tmp_path / "profiles" / "default"
    settings = profile / "QGIS" / "QGIS3.ini"
    settings.parent.mkdir(parents=True)
    settings.write_text("[General]\nlocale=en\n\n[PythonPlugins]\nother_plugin=true\ndinomc_qgis=false\n\n[UI]\nstate=@ByteArray(abc)\n")
    installed = qgis_install(profile)
    assert (installed / "metadata.txt").is_file() and (installed / "worker.py").is_file()
    assert not list(installed.rglob("__pycache__"))
    assert json.loads((installed / "worker.json").read_text()) == {"python": f"{sys.prefix}/bin/python", "source": str(repo_root)}
    assert settings.read_text() == (
        "[General]\nlocale=en\n\n[PythonPlugins]\nother_plugin=true\ndinomc_qgis=true\n\n[UI]\nstate=@ByteArray(abc)\n"
    )
    qgis_install(profile)  # again: same result, nothing duplicated
    assert settings.read_text().count("dinomc_qgis=true") == 1
