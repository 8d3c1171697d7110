"""Book tooling: words chosen by the numbers (``prose``), where a build's time went (``profile``) and
the status page with its checks of the executed notebooks (``status``)."""
