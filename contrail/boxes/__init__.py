"""The box factory: a prebaked box per role, built by Packer from one Debian base (`build-boxes`)."""
