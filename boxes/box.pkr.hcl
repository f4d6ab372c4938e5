# One template for every role (chef/bento style): a role is a var file under boxes/roles/.
# Contrail passes the computed values (base image, hash, version, paths); the var file passes the role's data.

variable "role" {
  type        = string
  description = "Role name; also the image repository's last component."
}
variable "description" {
  type = string
}
variable "scripts" {
  type        = list(string)
  description = "Provision scripts, in order, relative to provision_scripts/."
}
variable "environment" {
  type        = list(string)
  default     = []
  description = "Extra KEY=VALUE pairs for the role's scripts (e.g. a variant switch)."
}
variable "ports" {
  type    = list(number)
  default = []
}
variable "smoke" {
  type        = string
  description = "Shell check run in a container of the finished image; the box is tagged only if it passes."
}
variable "build_by_default" {
  type    = bool
  default = true
}
variable "wheels" {
  type        = list(string)
  default     = []
  description = "Python packages (pip requirement specs) downloaded as wheels on the host, for boxes that cannot reach PyPI: /tmp/contrail-wheels."
}

# Set by Contrail for each build.
variable "base_image" {
  type = string
}
variable "scripts_dir" {
  type = string
}
variable "labels" {
  type        = map(string)
  description = "Image labels: role, version, input hash, build time, box format."
}
variable "apt_proxy" {
  type    = string
  default = ""
}
variable "wheel_dir" {
  type        = string
  description = "The host folder holding the role's downloaded wheels (empty when it has none)."
}
variable "vagrant_pubkey" {
  type        = string
  description = "Vagrant's public insecure key; Vagrant swaps it for a fresh one on first up."
}

locals {
  script_paths = [for s in var.scripts : "${var.scripts_dir}/${s}"]
  label_changes = [for k, v in var.labels : "LABEL ${k}=${v}"]
  expose_changes = [for p in var.ports : "EXPOSE ${p}/tcp"]
}

source "docker" "box" {
  image  = var.base_image
  pull   = false
  commit = true
  # Packer commits with its own /bin/sh entrypoint: reset it so the box runs its process manager.
  changes = concat(
    [
      "ENTRYPOINT [\"\"]",
      "CMD [\"/usr/bin/supervisord\", \"-n\", \"-c\", \"/etc/supervisor/supervisord.conf\"]",
    ],
    local.label_changes,
    local.expose_changes,
  )
}

build {
  sources = ["source.docker.box"]

  # Files every role's scripts may install (provision_scripts/contrail-files → /tmp/contrail-files).
  provisioner "file" {
    source      = "${var.scripts_dir}/contrail-files"
    destination = "/tmp"
  }

  provisioner "file" {
    source      = "${var.wheel_dir}/"
    destination = "/tmp/contrail-wheels"
  }

  provisioner "shell" {
    scripts = local.script_paths
    environment_vars = concat(
      [
        "CONTRAIL_ROLE=${var.role}",
        "CONTRAIL_APT_PROXY=${var.apt_proxy}",
        "CONTRAIL_VAGRANT_PUBKEY=${var.vagrant_pubkey}",
      ],
      var.environment,
    )
  }
}
