variable "image" { type = string }

module "web" {
  source = "../web"
  image  = var.image
  name   = "outer"
}
