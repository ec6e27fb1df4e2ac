/* placeholder until the module lands */
typedef int ig_webhook_placeholder;
