"""Tests of the deployment files: the Kubernetes manifests and the compose stack (deploy/)."""
