package handlers

import "github.com/gofiber/fiber/v2"

func (h *crmAPI) campaignAPIRoutes(api fiber.Router) {}
