from setuptools import find_packages, setup

package_name = 'devrobot_sim'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools', 'numpy'],
    zip_safe=True,
    maintainer='devrobot developers',
    maintainer_email='dev@devrobot.invalid',
    description='The toroidal-dot world: simulator, SimRobot and the simulator node.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'sim_node = devrobot_sim.sim_node:main',
        ],
    },
)
