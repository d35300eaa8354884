//! Pure transform from Flux HelmRelease / HelmChart objects to FlowMessages (built in issue 5).
