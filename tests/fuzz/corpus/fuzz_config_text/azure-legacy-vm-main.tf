# The legacy azurerm_virtual_machine takes a managed image in storage_image_reference.id.
# Written by hand in Terraform's plan format (no azurerm provider offline): see fixtures/README.md.
terraform {
  required_providers { azurerm = { source = "hashicorp/azurerm", version = "4.35.0" } }
}

provider "azurerm" {
  features {}
  subscription_id = "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
}

variable "image_id" {
  type    = string
  default = "/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/images-rg/providers/Microsoft.Compute/images/win2022-20250709"
}

resource "azurerm_virtual_machine" "legacy" {
  name                  = "legacy-win"
  location              = "westeurope"
  resource_group_name   = "apps-rg"
  network_interface_ids = ["/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/apps-rg/providers/Microsoft.Network/networkInterfaces/legacy-nic"]
  vm_size               = "Standard_D2s_v5"

  storage_image_reference {
    id = var.image_id
  }

  storage_os_disk {
    name              = "legacy-os"
    caching           = "ReadWrite"
    create_option     = "FromImage"
    managed_disk_type = "Premium_LRS"
  }

  os_profile {
    computer_name  = "legacy"
    admin_username = "imagegate"
    admin_password = "Not-a-real-password-1"
  }

  os_profile_windows_config {}
}

# a marketplace image: no managed image ID (id is empty), no finding
resource "azurerm_virtual_machine" "marketplace" {
  name                  = "market-linux"
  location              = "westeurope"
  resource_group_name   = "apps-rg"
  network_interface_ids = ["/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/apps-rg/providers/Microsoft.Network/networkInterfaces/market-nic"]
  vm_size               = "Standard_B2s"

  storage_image_reference {
    publisher = "Canonical"
    offer     = "0001-com-ubuntu-server-jammy"
    sku       = "22_04-lts"
    version   = "latest"
  }

  storage_os_disk {
    name              = "market-os"
    caching           = "ReadWrite"
    create_option     = "FromImage"
    managed_disk_type = "Standard_LRS"
  }

  os_profile {
    computer_name  = "market"
    admin_username = "imagegate"
    admin_password = "Not-a-real-password-2"
  }

  os_profile_linux_config {
    disable_password_authentication = false
  }
}
