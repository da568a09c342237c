package store

// FieldOptOut is the custom field that marks a customer who asked not to be
// messaged (不打扰): "true" when set. Only bot.Core.SetOptOut writes it.
const FieldOptOut = "opt_out"
