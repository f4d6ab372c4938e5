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

# Set by Contrail for each build. The docker source starts from the base image, the qemu source (the
# libvirt provider's boxes) from the VM base's disk, the virtualbox-ovf source (VirtualBox boxes) from
# the same disk exported as an OVF; each build sets the variables of its own source.
variable "base_image" {
  type    = string
  default = ""
}
variable "base_disk" {
  type        = string
  default     = ""
  description = "The VM base's qcow2 disk (debootstrap, kernel, GRUB; contrail/boxes/vmbase.py)."
}
variable "base_disk_checksum" {
  type    = string
  default = "none"
}
variable "base_ovf" {
  type        = string
  default     = ""
  description = "The VM base exported for VirtualBox: an OVF descriptor beside its disk (contrail/boxes/ovf.py)."
}
variable "base_ovf_checksum" {
  type    = string
  default = "none"
}
variable "output_dir" {
  type        = string
  default     = ""
  description = "Where the qemu and virtualbox-ovf sources write the role's disk (a new directory)."
}
variable "accelerator" {
  type        = string
  default     = "tcg"
  description = "QEMU's accelerator, chosen by a probe of this host (contrail doctor): kvm or tcg."
}
variable "ssh_private_key" {
  type        = string
  default     = ""
  description = "Vagrant's insecure private key: the VM sources log in as vagrant, as Vagrant will."
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

# The libvirt provider's boxes: a copy of the VM base's disk booted under QEMU, the same role scripts run
# over SSH, then a clean shutdown. (A copy, not a backing-file layer: Packer 1.6.6 creates the layer
# without the backing format qemu-img 7 requires, and copying the disk takes about a second.)
source "qemu" "box" {
  disk_image           = true
  iso_url              = var.base_disk
  iso_checksum         = var.base_disk_checksum
  use_backing_file     = false
  # (Compaction, with the build's freed blocks trimmed first, made boxes 1% smaller: web 538 → 530 MB, db
  # 957 → 950 MB. What a box holds beyond its docker image is the kernel, GRUB and udev and ext4's own.)
  skip_compaction      = true
  format               = "qcow2"
  disk_interface       = "virtio"
  net_device           = "virtio-net"
  accelerator          = var.accelerator
  memory               = 1024
  cpus                 = 2
  headless             = true
  output_directory     = var.output_dir
  vm_name              = "box.img"
  communicator         = "ssh"
  ssh_username         = "vagrant"
  ssh_private_key_file = var.ssh_private_key
  ssh_timeout          = "5m"
  shutdown_command     = "sudo shutdown -h now"
  shutdown_timeout     = "2m"
}

# VirtualBox boxes: the VM base's OVF imported, the same role scripts over SSH, the machine exported.
# Its disk sits on an IDE (PIIX4) controller and its NIC is virtio: the devices the VM base's kernel
# (Debian's cloud kernel) has drivers for. The MAC is fixed so the box's Vagrantfile can name it.
source "virtualbox-ovf" "box" {
  source_path             = var.base_ovf
  checksum                = var.base_ovf_checksum
  vboxmanage              = [["modifyvm", "{{ .Name }}", "--memory", "1024", "--cpus", "2", "--nictype1", "virtio", "--macaddress1", "080027C0A801"]]
  guest_additions_mode    = "disable"
  virtualbox_version_file = ""
  headless                = true
  format                  = "ovf"
  output_directory        = var.output_dir
  vm_name                 = "box"
  communicator            = "ssh"
  ssh_username            = "vagrant"
  ssh_private_key_file    = var.ssh_private_key
  ssh_timeout             = "5m"
  shutdown_command        = "sudo shutdown -h now"
  shutdown_timeout        = "2m"
}

build {
  sources = ["source.docker.box", "source.qemu.box", "source.virtualbox-ovf.box"]

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
    # As root: the docker source logs in as root, the VM sources as vagrant.
    execute_command = "chmod +x {{ .Path }}; sudo -E env {{ .Vars }} {{ .Path }}"
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
