/* placeholder until the module lands */
typedef int ig_policy_placeholder;
