################################################################################
# VPC
################################################################################

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

################################################################################
# Subnets
################################################################################

output "private_subnet_ids" {
  description = "IDs of the private subnets (tasks and jobs)."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (load balancer and NAT)."
  value       = aws_subnet.public[*].id
}

################################################################################
# VPC endpoints
################################################################################

output "vpc_endpoint_ids" {
  description = "VPC endpoint IDs keyed by service suffix (s3 and each interface service)."
  value       = merge({ s3 = aws_vpc_endpoint.s3.id }, { for service, endpoint in aws_vpc_endpoint.interface : service => endpoint.id })
}

output "vpc_endpoint_security_group_id" {
  description = "ID of the security group on the interface endpoints."
  value       = aws_security_group.endpoints.id
}
