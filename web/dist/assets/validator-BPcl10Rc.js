import{b1 as i}from"./index-BfFTeU11.js";const n=o=>["",...i].includes(o);export{n as i};
