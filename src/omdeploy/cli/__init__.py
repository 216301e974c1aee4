"""The `omdeploy` command: one thin module per verb under this package."""
