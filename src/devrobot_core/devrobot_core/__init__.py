"""devrobot_core: the pure robot contract every devrobot package builds on.

Timed motor commands (`motor`), the Robot interface (`robot`), clocks, config fields, action
selectors (`selectors`), exploration, transitions and session statistics; session bags under
`bags/`. None of these imports rclpy or torch, so the JetBot driver, the simulator and the world
model can all depend on this package. `ros/` holds the helpers of the node shells (rclpy inside
its functions), and `testing/` the rclpy test double the shells' tests run against.
"""
