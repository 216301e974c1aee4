"""Pre- and post-processing around a Session, driven by the DeploySpec."""
