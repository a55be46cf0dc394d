from setuptools import find_packages, setup

package_name = 'devrobot_jetbot'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools', 'numpy', 'rpyc'],
    zip_safe=True,
    maintainer='devrobot developers',
    maintainer_email='dev@devrobot.invalid',
    description='JetBot driver: camera and ramped, self-stopping timed motors.',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={
        'console_scripts': [
            'jetbot_node = devrobot_jetbot.jetbot_node:main',
            'jetbot_robot_service = devrobot_jetbot.robot_service:main',
        ],
    },
)
