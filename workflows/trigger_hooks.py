"""The hook through which a workflow's trigger is installed and removed.

Activation calls `install()`, pausing and archiving call `uninstall()`, and editing an active
workflow calls both. The triggers app registers one installer per trigger type (schedule rows,
event subscriptions, webhook URLs); a type without an installer (manual) needs nothing.
"""


class TriggerInstaller:
    """Base class: a trigger type and how to install and remove it for a workflow."""

    trigger_type: str = ""

    def install(self, workflow):  # pragma: no cover - the contract
        raise NotImplementedError

    def uninstall(self, workflow):  # pragma: no cover - the contract
        raise NotImplementedError


_installers: dict[str, TriggerInstaller] = {}


def register_installer(installer: TriggerInstaller):
    if not installer.trigger_type:
        raise ValueError(f"{type(installer).__name__} declares no trigger_type")
    if installer.trigger_type in _installers:
        raise ValueError(
            f"an installer for '{installer.trigger_type}' triggers is already registered"
        )
    _installers[installer.trigger_type] = installer


def installer_for(trigger_type):
    return _installers.get(trigger_type)


def install(workflow):
    installer = installer_for(workflow.trigger_type)
    if installer:
        installer.install(workflow)


def uninstall(workflow):
    # Every installer is asked, so that changing a workflow's trigger type removes the old one.
    for installer in _installers.values():
        installer.uninstall(workflow)
