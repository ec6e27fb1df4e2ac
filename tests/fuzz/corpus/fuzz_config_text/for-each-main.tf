# Images chosen by for_each and count: each.value, each.key and each.value.ami follow the
# resource's or module call's for_each_expression, count.index its count_expression.
variable "images" {
  type = map(string)
  default = {
    web = "ami-0a1b2c3d4e5f60718"
    api = "ami-0c9d8e7f6a5b40312"
  }
}

variable "servers" {
  type = map(object({ ami = string, size = string }))
  default = {
    cache = { ami = "ami-0c9d8e7f6a5b40312", size = "t3.small" }
  }
}

locals {
  fleet = { batch = "ami-0a1b2c3d4e5f60718" }
}

data "aws_arn" "golden" {
  arn = "arn:aws:ec2:us-west-1:123456789012:image/ami-0c9d8e7f6a5b40312"
}

# a map variable of literal images
resource "aws_instance" "by_map" {
  for_each      = var.images
  ami           = each.value
  instance_type = "t3.micro"
  tags          = { Name = each.key }
}

# a map of objects
resource "aws_instance" "by_object" {
  for_each      = var.servers
  ami           = each.value.ami
  instance_type = each.value.size
}

# through a local (not in the plan JSON)
resource "aws_instance" "by_local" {
  for_each      = local.fleet
  ami           = each.value
  instance_type = "t3.micro"
}

# a set of literal images, by key
resource "aws_instance" "by_key" {
  for_each      = toset(["ami-0a1b2c3d4e5f60718"])
  ami           = each.key
  instance_type = "t3.micro"
}

# a literal list indexed by count.index
resource "aws_instance" "by_count" {
  count         = 2
  ami           = ["ami-0a1b2c3d4e5f60718", "ami-0c9d8e7f6a5b40312"][count.index]
  instance_type = "t3.micro"
}

# for_each over what a data source returned: looked up, not hardcoded
resource "aws_instance" "by_data" {
  for_each      = { golden = trimprefix(data.aws_arn.golden.resource, "image/") }
  ami           = each.value
  instance_type = "t3.micro"
}

# a module called with for_each over a literal map
module "fleet" {
  source   = "./modules/web"
  for_each = { a = "ami-0a1b2c3d4e5f60718", b = "ami-0c9d8e7f6a5b40312" }
  image    = each.value
  name     = "fleet-${each.key}"
}

# a module called with count, the image from a literal list
module "counted" {
  source = "./modules/web"
  count  = 1
  image  = ["ami-0c9d8e7f6a5b40312"][count.index]
  name   = "counted-${count.index}"
}

# two levels down: the root iterates over a variable, the outer module passes the image on
module "outer" {
  source   = "./modules/outer"
  for_each = var.images
  image    = each.value
}
