"""kimi-student: conversion."""
