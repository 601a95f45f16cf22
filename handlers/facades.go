package handlers

import "github.com/gin-gonic/gin"

// registerFacades registers the compatible role APIs (Dintero-, Monite- and
// Papershift-style) beside the native one.
func registerFacades(r *gin.Engine, a *api, d Deps) {}
