"""Packages of the wheel: the design's folders installed under one `borderwatch` namespace.

The folders stay where the design names them (`collector/`, `alerts/`, `exporters/`, …) but
install as `borderwatch.collector`, `borderwatch.alerts`, …: generic top-level names collide
in site-packages (PyPI already has a `grafana`). pyproject.toml cannot list a remapped
package's subpackages by discovery, so they are found here; everything else about the
project is in pyproject.toml.
"""

from setuptools import find_packages, setup

# folder → installed as borderwatch.<folder>; borderwatch/ itself is the application
FOLDERS = ("collector", "alerts", "exporters", "history", "reports", "grafana", "lab")

package_dir = {"borderwatch": "borderwatch"} | {f"borderwatch.{f}": f for f in FOLDERS}
packages = ["borderwatch", *(f"borderwatch.{p}" for p in find_packages(
    include=[name for f in FOLDERS for name in (f, f"{f}.*")]))]

setup(packages=packages, package_dir=package_dir)
