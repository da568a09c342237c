import{b2 as i}from"./index-B4LbEfdX.js";const n=o=>["",...i].includes(o);export{n as i};
